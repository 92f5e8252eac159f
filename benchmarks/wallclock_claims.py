"""How the parent's wall clock judges claimed times: honest candidates, and candidates that lie.

    python benchmarks/wallclock_claims.py --device cpu --repeats 3 --out OUT
    python benchmarks/wallclock_claims.py --device cuda --repeats 3 --out $OUT

Each case evaluates a fixture candidate (the static screen off, so that the lies reach the
runtime checks) under the device's default options and records the wall-clock check: the
unclaimed time per call over an empty call's in the clean worker (`excess`), the noise allowance,
the burst bound (calls in one request, each waited for, timed by the parent, less an empty
burst's: see `wallclock.judge_burst`), whether the candidate was charged or rejected, and the
speedup it ended with. The honest controls show what the allowance must absorb; `reply_shave`
(claims 60% of its time) and `reply_rewrite` (claims 25%) show what a lie still earns. Prints
each row as it is measured, then a table; writes OUT/wallclock_claims.json.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from kernelswarm.evaluate import EvalOptions, evaluate  # noqa: E402
from kernelswarm.problems.load import load_problem  # noqa: E402

FIXTURES = ROOT / "tests" / "evaluate"
CASES = {
    "cpu": [("matmul_tanh", "correct/same_ops_matmul.py"), ("matmul_tanh", "cheat/reply_shave.py"),
            ("matmul_tanh", "cheat/reply_rewrite.py"), ("relu_linear", "correct/same_ops.py")],
    "cuda": [("matmul_tanh", "correct/same_ops_matmul.py"), ("matmul_tanh", "cheat/reply_shave.py"),
             ("matmul_tanh", "cheat/reply_rewrite.py"), ("relu_big", "correct/triton_relu.py"),
             ("matmul_big", "correct/reordered_sum_big.py")],
}
_DETAIL = re.compile(r"(?P<excess>[-\d.e+]+) ms per call unexplained by the claimed (?P<claimed>[\d.e+]+) ms "
                     r"\(an empty call costs (?P<base>[-\d.e+]+) ms; noise allows (?P<noise>[\d.e+]+) ms\)")
_BURST = re.compile(r"in bursts, (?P<burst_calls>\d+) calls took (?P<burst>[-\d.e+]+) ms each")
_SPLIT = re.compile(r"in the workers, as they report: (?P<inside>[-\d.e+]+) ms unclaimed per timed call, "
                    r"(?P<null_inside>[-\d.e+]+) ms per empty call")


def one(device: str, problem_name: str, cand: str) -> dict:
    problem = load_problem(FIXTURES / "problems" / f"{problem_name}.py")
    ev = evaluate(problem, (FIXTURES / "candidates" / cand).read_text(), EvalOptions.for_device(device, static_screen=False))
    check = next((c for c in ev.checks if c.name == "wall-clock"), None)
    m = _DETAIL.search(check.detail) if check else None
    split = _SPLIT.search(check.detail) if check else None
    burst = _BURST.search(check.detail) if check else None
    return {
        "case": f"{problem_name} / {cand}", "verdict": ev.verdict.value, "reason": ev.reason[:160],
        "calls": ev.candidate.n if ev.candidate else None, "candidate_ms": ev.candidate.median_ms if ev.candidate else None,
        "speedup": ev.speedup, "charged": bool(check and "charged" in check.detail),
        **({k: float(v) for k, v in m.groupdict().items()} if m else {}),
        **({k: float(v) for k, v in split.groupdict().items()} if split else {}),
        **({k: float(v) for k, v in burst.groupdict().items()} if burst else {}),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu", choices=sorted(CASES))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    rows = []
    for p, c in CASES[args.device]:
        for _ in range(args.repeats):
            rows.append(one(args.device, p, c))
            print(json.dumps(rows[-1]), flush=True)  # as it goes: a run cut short keeps what it measured
    # "in worker": unclaimed ms inside the worker per call as it reports (timed call / empty call);
    # the rest of the unclaimed time is between the processes (pipe, scheduling, switching).
    lines = ["| case | verdict | calls | claimed ms | empty call ms | excess ms | noise allows ms | charged | speedup "
             "| in worker, timed / empty ms | in bursts, ms per call (calls) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        inside = f"{r['inside']:.3g} / {r['null_inside']:.3g}" if "inside" in r else None
        burst = f"{r['burst']:.3g} ({r['burst_calls']:.0f})" if "burst" in r else None
        cells = [r["case"], r["verdict"], r["calls"], r.get("claimed"), r.get("base"), r.get("excess"), r.get("noise"),
                 "yes" if r["charged"] else "", f"{r['speedup']:.2f}x" if r["speedup"] else "-", inside, burst]
        lines.append("| " + " | ".join("-" if c is None else str(c) for c in cells) + " |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "wallclock_claims.json").write_text(json.dumps(rows, indent=1))
        (args.out / "wallclock_claims.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
