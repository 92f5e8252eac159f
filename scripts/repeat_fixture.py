"""One fixture scenario evaluated several times, each source tree in turn (on the device it names).

    PYTHONPATH=src python scripts/repeat_fixture.py cheat/noop_flush --device cuda --trees .old17/src,src --times 3

Each evaluation runs in a fresh interpreter with that tree first on the path, with the options the
fixture tests use (static screen, strict, calls as the scenario's header says). One line per
evaluation: tree, verdict, speedup, interval, and each check that did not pass or carries a detail
about the wall clock, so that a verdict that differs between trees or runs can be read.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_CHILD = r"""
import json, sys
sys.path.insert(0, "tests/evaluate")
from fixtures import scenarios
from test_fixtures import _options
from kernelswarm.evaluate import evaluate
from kernelswarm.problems.load import load_problem
want, device = sys.argv[1], sys.argv[2]
s = next(s for f in ("correct", "wrong", "cheat") for s in scenarios(f, device) if s.id == want)
ev = evaluate(load_problem(f"tests/evaluate/problems/{s.problem}.py"), s.path.read_text(), _options(s))
checks = [{"name": c.name, "passed": c.passed, "detail": str(getattr(c, "detail", ""))[:400]} for c in ev.checks]
print("RESULT " + json.dumps({"verdict": ev.verdict.value, "speedup": ev.speedup, "ci": ev.speedup_ci,
                              "reason": ev.reason[:400], "checks": checks}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenario", help="a fixture id, e.g. cheat/noop_flush/nostatic")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--trees", default="src", help="comma-separated src folders, alternated")
    ap.add_argument("--times", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=120)
    a = ap.parse_args()
    trees = [t for t in a.trees.split(",") if t]
    missing = [t for t in trees if not (ROOT / t / "kernelswarm").is_dir()]
    if missing:
        print(f"repeat_fixture: no kernelswarm package under {', '.join(missing)}", file=sys.stderr)
        return 2
    for i in range(a.times):
        for tree in trees:
            extra = os.environ.get("PYTHONPATH", "")
            env = {**os.environ, "PYTHONPATH": str(ROOT / tree) + (":" + extra if extra else "")}
            try:
                out = subprocess.run([sys.executable, "-c", _CHILD, a.scenario, a.device], cwd=ROOT, env=env,
                                     capture_output=True, text=True, timeout=a.timeout)
            except subprocess.TimeoutExpired:
                print(f"{i} {tree}: timed out after {a.timeout:.0f} s", flush=True)
                continue
            line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
            if line is None:
                print(f"{i} {tree}: exit {out.returncode}: {out.stderr.strip().splitlines()[-1:]}", flush=True)
                continue
            r = json.loads(line[7:])
            print(f"{i} {tree}: {r['verdict']} speedup {r['speedup']} ci {r['ci']} | {r['reason']}", flush=True)
            for c in r["checks"]:
                if not c["passed"] or any(k in c["name"] for k in ("wall", "burst", "vouch", "resolution", "paired")):
                    print(f"    {c['name']} {'ok' if c['passed'] else 'FAILED'}: {c['detail']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
