"""Where an evaluation's wall time goes: the evaluator's own overhead, apart from compiling.

    python benchmarks/evaluator_overhead.py --device cpu --out docs/bench
    python benchmarks/evaluator_overhead.py --device cuda --out $OUT

Evaluates a few fixture candidates (PyTorch-only, so no compile time) several times and prints a
markdown table of the phases: start (spawning both workers, importing torch, the reference's
output spec and peak rates), import (the candidate), trials (correctness runs), timing (warm-up,
labelling, calibration, timed calls), check (reference recomputation in float64 and comparison),
baseline (eager reference timing).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from kernelswarm.evaluate import EvalOptions, evaluate  # noqa: E402
from kernelswarm.problems.load import load_problem  # noqa: E402

FIXTURES = ROOT / "tests" / "evaluate"
CASES = {
    "cpu": [("relu_linear", "correct/same_ops.py"), ("matmul", "correct/reordered_sum.py")],
    "cuda": [("matmul_big", "correct/reordered_sum_big.py"), ("relu_big", "cheat/decoy_triton.py"),
             ("level1/argmax", "self"), ("level1/matmul_square", "self"), ("level1/softmax", "self"), ("level1/conv2d", "self")],
}
SUITE = ROOT / "src" / "kernelswarm" / "problems" / "suite"


def _case(problem_name: str, cand: str):
    """A fixture problem and candidate, or a bundled problem with itself as ModelNew (the control)."""
    import re

    if cand == "self":
        problem = load_problem(SUITE / f"{problem_name}.py")
        return problem, re.sub(r"\bclass Model\(", "class ModelNew(", problem.source)
    return load_problem(FIXTURES / "problems" / f"{problem_name}.py"), (FIXTURES / "candidates" / cand).read_text()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--only", default="", help="comma list of problem names to run (default: all of the device's cases)")
    args = ap.parse_args()
    rows = []
    cases = [c for c in CASES[args.device] if not args.only or c[0] in args.only.split(",")]
    for problem_name, cand in cases:
        problem, source = _case(problem_name, cand)
        for i in range(args.repeats):
            t = time.monotonic()
            ev = evaluate(problem, source, EvalOptions.for_device(args.device))
            wall = time.monotonic() - t
            rows.append({"problem": problem_name, "candidate": cand, "repeat": i, "verdict": ev.verdict.value,
                         "wall_s": wall, **ev.phases_s, "candidate_ms": ev.candidate.median_ms if ev.candidate else None,
                         "reference_ms": ev.reference.median_ms if ev.reference else None,
                         "calls": ev.candidate.n if ev.candidate else 0, "versions": ev.versions})
            print(json.dumps(rows[-1]), flush=True)
    phases = ["start", "import", "trials", "timing", "check", "baseline"]
    lines = ["| problem | verdict | wall s (median) | " + " | ".join(phases) + " | candidate ms | reference ms | timed calls |",
             "|---|---|---|" + "---|" * len(phases) + "---|---|---|"]
    for problem_name, cand in cases:
        rs = [r for r in rows if r["problem"] == problem_name]
        med = lambda k: statistics.median(r.get(k) or 0.0 for r in rs)  # noqa: E731
        lines.append(f"| {problem_name} ({cand}) | {rs[0]['verdict']} | {med('wall_s'):.2f} | "
                     + " | ".join(f"{med(p):.2f}" for p in phases)
                     + f" | {med('candidate_ms'):.4g} | {med('reference_ms'):.4g} | {int(med('calls'))} |")
    v = rows[0]["versions"]
    lines.append("")
    lines.append(f"Device: {v.get('device_name')}, driver {v.get('driver', '-')}, torch {v.get('torch')}, triton {v.get('triton', '-')}; "
                 f"{args.repeats} evaluations each.")
    table = "\n".join(lines)
    print(table)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"evaluator_overhead_{args.device}.md").write_text(table + "\n")
        (args.out / f"evaluator_overhead_{args.device}.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
