"""One evaluation: a fixture (folder/stem) or copy:PROBLEM; prints one JSON line."""
import json, os, statistics, sys, time
sys.path.insert(0, "tests/evaluate")
from pathlib import Path
from kernelswarm.evaluate import EvalOptions, evaluate
from kernelswarm.evaluate.parent import run, timing
from kernelswarm.problems import load_problem
seen = {}
orig = timing.time_candidate
def wrapped(*a, **k):
    ct = orig(*a, **k)
    seen.update(charged=round(ct.charged, 3), remeasured=ct.remeasured,
                claimed=round(statistics.median([t / ct.charged for t in ct.timing.samples]), 4),
                ref=round(ct.reference.median_ms, 4) if ct.reference else None, wall=ct.wall_detail[-700:])
    return ct
run.timing.time_candidate = wrapped
name = sys.argv[1]
t = time.time()
if name.startswith("copy:"):
    path = Path("tests/evaluate/problems") / f"{name[5:]}.py"
    ev = evaluate(load_problem(path), path.read_text().replace("class Model(", "class ModelNew("), EvalOptions.for_device("cpu"))
else:
    from fixtures import PROBLEMS, scenarios
    from test_fixtures import _options
    folder, stem = name.split("/")
    s = [s for s in scenarios(folder) if s.path.stem == stem][0]
    ev = evaluate(load_problem(PROBLEMS / f"{s.problem}.py"), s.path.read_text(), _options(s))
print(json.dumps({"name": name, "tree": os.environ.get("TREE"), "verdict": ev.verdict.value,
                  "speedup": round(ev.speedup or 0, 3), "ci": [round(x, 3) for x in ev.speedup_ci] if ev.speedup_ci else None,
                  "s": round(time.time() - t), "load": os.getloadavg()[0], "reason": ev.reason[:200], **seen}))
