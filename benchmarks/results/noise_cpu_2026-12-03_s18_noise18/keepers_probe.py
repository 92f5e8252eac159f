"""One-off probe (noise18): a request written while the worker is stopped, its clock started as
the worker is continued (WorkerProcess.call_when_continued, as the candidate's `time_call`), for
an idle contained candidate's worker with its launcher and namespace's first process left
stopped (as before session 18) and continued once the session has stopped (contain.KEEPERS_RUN),
in turn, and the clean worker's plain request beside them. Wall ms of each `settle` round trip.

    PYTHONPATH=src python benchmarks/results/noise_cpu_2026-12-03_s18_noise18/keepers_probe.py [N]
"""
import json, os, statistics, sys, tempfile, time
from pathlib import Path

from kernelswarm.evaluate import EvalOptions
from kernelswarm.evaluate.parent.procs import WorkerProcess, init_message
from kernelswarm.evaluate.worker import contain
from kernelswarm.problems import load_problem

prob = load_problem(Path("tests/evaluate/problems/softmax_rows.py"))
o = EvalOptions.for_device("cpu")
d = Path(tempfile.mkdtemp(prefix=contain.PREFIX))
contain.claim_folder(d)
ref = WorkerProcess("reference", d / "reference", "cpu")
cand = WorkerProcess("candidate", d / "candidate", "cpu")
init = init_message(prob, o)
ref.call(init)
cand.call(init)
cand.call({"op": "sandbox"})
res = {"cand, keepers stopped": [], "cand, keepers run": [], "ref, plain request": [], "ref, continued": []}
load0 = os.getloadavg()[0]
for i in range(int(sys.argv[1]) if len(sys.argv) > 1 else 300):
    order = list(res)
    if i % 2:
        order.reverse()
    for name in order:
        time.sleep(0.002)
        if name.startswith("cand"):
            contain.KEEPERS_RUN = name.endswith("run")
            cand.call_when_continued({"op": "settle"}, lambda: None)
            res[name].append(1000 * cand.last_wall_s)
        elif name.endswith("continued"):
            ref.call_when_continued({"op": "settle"}, lambda: None)
            res[name].append(1000 * ref.last_wall_s)
        else:
            with ref.stopped():
                pass
            ref.call({"op": "settle"})
            res[name].append(1000 * ref.last_wall_s)
q = lambda xs: [round(sorted(xs)[int(p * len(xs))], 4) for p in (0.1, 0.5, 0.9)]  # noqa: E731
print(json.dumps({"load": [round(load0, 1), round(os.getloadavg()[0], 1)], "n": len(res["ref, plain request"]),
                  **{k + " q10/50/90": q(v) for k, v in res.items()},
                  "median of (stopped - run)": round(statistics.median(
                      a - b for a, b in zip(res["cand, keepers stopped"], res["cand, keepers run"])), 4)}))
cand.kill()
ref.kill()
