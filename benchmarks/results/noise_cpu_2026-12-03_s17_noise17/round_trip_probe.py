import os, sys, time, json, signal, tempfile, statistics
from pathlib import Path
from kernelswarm.evaluate import EvalOptions
from kernelswarm.evaluate.parent.procs import WorkerProcess, init_message
from kernelswarm.evaluate.worker import contain
from kernelswarm.problems import load_problem
prob = load_problem(Path("tests/evaluate/problems/softmax_rows.py"))
o = EvalOptions.for_device("cpu")
d = Path(tempfile.mkdtemp(prefix=contain.PREFIX)); contain.claim_folder(d)
ref = WorkerProcess("reference", d / "reference", "cpu")
cand = WorkerProcess("candidate", d / "candidate", "cpu")
init = init_message(prob, o)
ref.call(init); cand.call(init)
if os.environ.get("SANDBOX", "1") == "1":
    print(cand.call({"op": "sandbox"})[0]["sandbox"][:100], file=sys.stderr)
stop = os.environ.get("STOP", "0") == "1"
res = {"ref": [], "cand": []}
for i in range(int(os.environ.get("N", "400"))):
    for name, w in (("ref", ref), ("cand", cand)) if i % 2 else (("cand", cand), ("ref", ref)):
        if stop:
            with w.stopped():
                pass
        w.call({"op": "settle"})
        res[name].append(1000 * (w.last_wall_s - float(0)))
q = lambda xs: [round(sorted(xs)[int(p * len(xs))], 4) for p in (0.1, 0.5, 0.9)]
diff = [c - r for c, r in zip(res["cand"], res["ref"])]
print(json.dumps({"env": {k: os.environ.get(k) for k in ("SANDBOX", "STOP", "KERNELSWARM_NO_NAMESPACE")}, "load": os.getloadavg()[0],
                  "ref q10/50/90": q(res["ref"]), "cand q10/50/90": q(res["cand"]), "diff median": round(statistics.median(diff), 4)}))
cand.kill(); ref.kill()
