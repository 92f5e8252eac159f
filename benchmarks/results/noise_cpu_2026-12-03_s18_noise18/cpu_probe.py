import json, os, statistics, sys, tempfile, time
from pathlib import Path
from kernelswarm.evaluate import EvalOptions
from kernelswarm.evaluate.parent.procs import WorkerProcess, init_message
from kernelswarm.evaluate.parent import cputime
from kernelswarm.evaluate.worker import contain
from kernelswarm.problems import load_problem
prob = load_problem(Path("tests/evaluate/problems/softmax_rows.py"))
o = EvalOptions.for_device("cpu")
d = Path(tempfile.mkdtemp(prefix=contain.PREFIX)); contain.claim_folder(d)
ref = WorkerProcess("reference", d / "reference", "cpu"); cand = WorkerProcess("candidate", d / "candidate", "cpu")
init = init_message(prob, o); ref.call(init); cand.call(init); cand.call({"op": "sandbox"})
res = {"cand": [], "ref": []}
stop_ms = cputime.stop_cost_ms(ref.proc.pid)
for i in range(200):
    for name, w in (("cand", cand), ("ref", ref)):
        c0 = w.cpu_ms()
        with w.stopped():
            time.sleep(0.002)
        w.call_when_continued({"op": "settle"}, lambda: time.sleep(0.001))
        res[name].append(w.cpu_ms() - c0)
print(json.dumps({"load": os.getloadavg()[0], "stop_cost_ms(ref)": round(stop_ms, 4),
  "cpu ms per cycle (2 stops + settle) median": {k: round(statistics.median(v), 4) for k, v in res.items()}}))
cand.kill(); ref.kill()
