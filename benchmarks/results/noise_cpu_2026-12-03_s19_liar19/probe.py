"""Evaluate PROBLEM=CANDIDATE once, dumping every timing window's per-call arrays (JSON line)."""
import json, sys, time, os
from pathlib import Path
from kernelswarm.evaluate import EvalOptions, evaluate
from kernelswarm.evaluate.parent import timing
from kernelswarm.problems.load import load_problem
wins = []
orig = timing._judged
def judged(times, slack, null_slack, result):
    v = orig(times, slack, null_slack, result)
    wins.append({"times": times, "slack": slack, "null_slack": null_slack, "ref_times": list(result.ref_times),
                 "ref_slack": list(result.ref_slack), "inside": list(result.inside), "null_inside": list(result.null_inside),
                 "cpu_marks": list(result.cpu_marks), "ref_cpu": list(result.ref_cpu), "believed": v.believed,
                 "charge": v.charge, "detail": v.detail})
    return v
timing._judged = judged
p, c = sys.argv[1].split("=")
l0 = os.getloadavg()[0]
ev = evaluate(load_problem(Path(p)), Path(c).read_text(), EvalOptions.for_device("cpu"))
print(json.dumps({"verdict": ev.verdict.value, "noise_sensitive": ev.noise_sensitive, "reason": ev.reason,
                  "speedup": ev.speedup, "ci": ev.speedup_ci, "load": [l0, os.getloadavg()[0]],
                  "checks": {ch.name: ch.detail for ch in ev.checks}, "windows": wins}))
