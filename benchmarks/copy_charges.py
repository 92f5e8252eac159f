"""Copies of the reference under a load this script makes: what the wall-clock charges do to them.

    python benchmarks/copy_charges.py --problems softmax_rows,matmul,relu_linear --rounds 5 \
        --load torch:2:2 --out OUT

Each round evaluates a copy of each problem (`class Model` renamed `ModelNew`, tests/evaluate/problems)
twice in a row under the same load: once with KERNELSWARM_CONFIRM_CHARGES=1 (a wall-clock
charge must show in every window, timing.settled; not the default, see docs/benchmarks.md
session 9) and once with it 0 (the default: one window's charge stands). Every evaluation runs in its own process. Per evaluation:
verdict, speedup and its interval, whether the interval contains 1, the candidate's claimed median
before any charge, the reference's median, the charge factor, and how many windows were measured.

`--load torch:N:T`: N processes each doing 512-cube matmuls on T threads (what other test suites'
workers do here); `spin:N`: N processes spinning in Python. Started before the first evaluation,
killed after the last. Writes OUT/copy_charges.json and OUT/copy_charges.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBLEMS = ROOT / "tests" / "evaluate" / "problems"

_TORCH_LOAD = ("import sys, torch\ntorch.set_num_threads(int(sys.argv[1]))\na = torch.randn(512, 512)\n"
               "while True:\n    a @ a\n")

_ONE = '''
import json, statistics, sys
from pathlib import Path
from kernelswarm.evaluate import EvalOptions, evaluate
from kernelswarm.evaluate.parent import timing
from kernelswarm.problems import load_problem

seen = {}
original = timing.time_candidate
def wrapped(*a, **k):
    ct = original(*a, **k)
    seen.update(charged=ct.charged, remeasured=ct.remeasured,
                claimed=statistics.median([t / ct.charged for t in ct.timing.samples]))
    return ct
timing.time_candidate = wrapped
path = Path(sys.argv[1])
ev = evaluate(load_problem(path), path.read_text().replace("class Model(", "class ModelNew("), EvalOptions.for_device("cpu"))
print(json.dumps({"verdict": ev.verdict.value, "reason": ev.reason[:300], "speedup": ev.speedup, "ci": ev.speedup_ci,
                  "reference_ms": ev.reference.median_ms if ev.reference else None, "wall_s": round(ev.wall_s, 1), **seen}))
'''


def _load(spec: str) -> list[subprocess.Popen]:
    kind, *args = spec.split(":")
    if kind == "torch":
        n, threads = int(args[0]), args[1] if len(args) > 1 else "2"
        return [subprocess.Popen([sys.executable, "-c", _TORCH_LOAD, threads]) for _ in range(n)]
    if kind == "spin":
        return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(int(args[0]))]
    raise SystemExit(f"--load: unknown kind {kind!r} (torch:N:T or spin:N)")


def _evaluate(problem: str, confirm: bool, timeout: float) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "KERNELSWARM_CONFIRM_CHARGES": "1" if confirm else "0"}
    r = subprocess.run([sys.executable, "-c", _ONE, str(PROBLEMS / f"{problem}.py")], capture_output=True, text=True,
                       env=env, timeout=timeout, check=False)
    if r.returncode != 0:
        return {"verdict": "error", "reason": r.stderr.strip().splitlines()[-1][:300] if r.stderr.strip() else "?"}
    return json.loads(r.stdout.strip().splitlines()[-1])


def _table(rows: list[dict]) -> str:
    out = ["| problem | confirm | verdict | speedup | 99% interval | contains 1 | claimed (cand) | reference | charge | windows | load |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ci = r.get("ci")
        out.append(f"| {r['problem']} | {'on' if r['confirm'] else 'off'} | {r['verdict']} | {r.get('speedup') or 0:.3f} | "
                   f"{f'[{ci[0]:.3f}, {ci[1]:.3f}]' if ci else '-'} | {r.get('contains_1', '-')} | "
                   f"{r.get('claimed', 0):.4f} | {r.get('reference_ms') or 0:.4f} | {r.get('charged', 1):.2f} | "
                   f"{1 + r.get('remeasured', 0)} | {r['load']:.1f} |")
    for confirm in (True, False):
        mine = [r for r in rows if r["confirm"] is confirm]
        inside = sum(1 for r in mine if r.get("contains_1"))
        sp = [r["speedup"] for r in mine if r.get("speedup")]
        out.append(f"\n{'with' if confirm else 'without'} confirmation: {inside} of {len(mine)} intervals contain 1; "
                   f"speedups {min(sp, default=0):.3f}-{max(sp, default=0):.3f}, median {statistics.median(sp) if sp else 0:.3f}; "
                   f"rejected {sum(1 for r in mine if r['verdict'] == 'rejected')}")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problems", default="softmax_rows,matmul,relu_linear")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--load", default="torch:2:2")
    ap.add_argument("--timeout", type=float, default=900.0)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    burners = _load(a.load)
    try:
        time.sleep(2.0)
        for k in range(a.rounds):
            for problem in a.problems.split(","):
                for confirm in (True, False):
                    row = {"problem": problem, "round": k, "confirm": confirm, **_evaluate(problem, confirm, a.timeout),
                           "load": os.getloadavg()[0]}
                    if row.get("ci"):
                        row["contains_1"] = row["ci"][0] <= 1.0 <= row["ci"][1]
                    rows.append(row)
                    print(json.dumps(row), file=sys.stderr, flush=True)
                    (a.out / "copy_charges.json").write_text(json.dumps({"load": a.load, "rows": rows}, indent=1))
    finally:
        for p in burners:
            p.kill()
            p.wait()
    (a.out / "copy_charges.md").write_text(_table(rows) + "\n")
    print(_table(rows))


if __name__ == "__main__":
    main()
