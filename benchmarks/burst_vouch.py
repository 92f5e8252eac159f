"""What the wall clock vouches for, per-call clock alone (before session 15) against the bursts too.

    python benchmarks/burst_vouch.py --device cpu --rounds 4 [--cases honest2x,copy,...] [--budget S]
    python benchmarks/burst_vouch.py --device cuda --rounds 1 --budget 230

Each evaluation is the evaluator's own (the fixtures' options), and both vouches are worked out
from its one set of measurements (acceptance.vouch wrapped): `old` is wallclock.vouch with the per-call
clock alone (KERNELSWARM_BURST_VOUCH=0), `new` with the bursts' bound too (burstvouch.py). The
speedup each would count and the low end of its interval, the claimed speedup after the charges,
and each clock's longest call, with what the bursts' bound is made of (each round's ratio of the
candidate's burst calls to the reference's, and the clean worker's own bursts' spread). Cases: an honest 2x of a short call (correct/sliced_once; on a CPU
also sin2x, benchmarks/candidates/burst_vouch/, whose floor a CPU's peaks measured under load do not
reach), copies of the reference, and the timing cheats that under-claim. Prints one table to stdout.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBLEMS = ROOT / "tests" / "evaluate" / "problems"
CHEAT = ROOT / "tests" / "evaluate" / "candidates" / "cheat"

# name: (problem on the CPU, problem on a GPU, candidate file or None for a copy of the problem, static screen)
CASES = {
    "honest2x": ("matmul_sliced", "matmul_sliced", ROOT / "tests/evaluate/candidates/correct/sliced_once.py", True),
    "copy": ("matmul_sliced", "matmul_big", None, True),
    "sin2x": ("sin_twice", "sin_twice", ROOT / "benchmarks/candidates/burst_vouch/sin_once.py", True),
    "sin_copy": ("sin_twice", "sin_twice", None, True),
    "noop_flush": ("matmul", "matmul_big", CHEAT / "noop_flush.py", False),
    "swapped_timer": ("matmul", "matmul_big", CHEAT / "swapped_timer.py", False),
    "reply_shave": ("matmul_tanh", "matmul_tanh", CHEAT / "reply_shave.py", False),
    "reply_rewrite": ("matmul_tanh", "matmul_tanh", CHEAT / "reply_rewrite.py", False),
    "burst_fake": ("matmul_tanh", "matmul_tanh", CHEAT / "burst_fake.py", False),
    "burst_unchained": ("matmul_tanh", "matmul_tanh", CHEAT / "burst_unchained.py", False),
}
GPU_DEFAULT = "honest2x,copy,noop_flush,swapped_timer,burst_unchained"


def _both(rows: list[dict]) -> None:
    """Wrap acceptance.vouch: the old and the new vouch of each accepted evaluation, from its own data."""
    from kernelswarm.evaluate.parent import acceptance, burstvouch, wallclock

    original = acceptance.vouch

    def wrapped(st, ev, ct) -> None:
        ref, cand, row = ev.reference, ev.candidate, {}
        if ref and cand and cand.samples and ct.resolution:
            ci = ev.speedup_ci
            view = burstvouch.merged(ct.bursts)
            bound = burstvouch.bound_ms(view)
            row = {"claimed": ref.median_ms / cand.median_ms, "per_call_ms": ct.claimed_ms + ct.resolution.unseen_ms,
                   "burst_ms": bound, "ref_ms": ref.median_ms,
                   # What the bound is made of (burstvouch.bound_ms): each round's ratio and the
                   # clean worker's own bursts' spread, so that a bound of no use says why.
                   "ratios": "/".join(f"{x:.3g}" for x in view.ratios) if view else "-",
                   "spread": f"{view.spread:.3g}" if view else "-"}
            for name, b in (("old", math.inf), ("new", bound)):
                v = wallclock.vouch(ref.median_ms, ct.claimed_ms, cand.median_ms, ct.resolution, b)
                row[name] = ref.median_ms / (cand.median_ms * v.cap)
                row[name + "_low"] = min(ci[0], v.vouched) if ci else float("nan")
        rows.append(row)
        original(st, ev, ct)

    acceptance.vouch = wrapped


def _problem_path(problem: str) -> Path:
    own = ROOT / "benchmarks" / "candidates" / "burst_vouch" / f"{problem}.py"
    return own if own.exists() else PROBLEMS / f"{problem}.py"


def _source(problem: str, candidate: Path | None) -> str:
    if candidate is not None:
        return candidate.read_text()
    return re.sub(r"\bclass Model\(", "class ModelNew(", _problem_path(problem).read_text())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--cases", default="")
    ap.add_argument("--budget", type=float, default=math.inf, help="no evaluation starts after this many seconds")
    args = ap.parse_args()
    from kernelswarm.evaluate import EvalOptions, evaluate
    from kernelswarm.problems import load_problem

    names = [n for n in (args.cases or (GPU_DEFAULT if args.device == "cuda" else ",".join(CASES))).split(",") if n]
    unknown = [n for n in names if n not in CASES]
    if unknown:
        print(f"unknown cases: {', '.join(unknown)} (known: {', '.join(CASES)})", file=sys.stderr)
        return 2
    rows: list[dict] = []
    _both(rows)
    cpu = args.device == "cpu"
    started = time.monotonic()
    print(f"# device {args.device}; load {os.getloadavg()[0]:.1f} at start; old = per-call clock alone, new = with the bursts")
    print("| case | problem | verdict | claimed | old speedup [low] | new speedup [low] | per-call / bursts' longest call ms | "
          "rounds' ratios / spread | ref ms | wall s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in range(args.rounds):
        for name in names:
            if time.monotonic() - started > args.budget:
                print(f"(budget of {args.budget:.0f} s spent: stopped before round {r + 1} of {name})")
                return 0
            cpu_problem, gpu_problem, cand, static = CASES[name]
            problem = cpu_problem if cpu else gpu_problem
            # The fixtures' options (tests/evaluate/test_fixtures.py); the cheats' headers ask for 200 calls.
            opts = EvalOptions.for_device(args.device, timeout_s=240 if cpu else 90, static_screen=static,
                                          timed_calls=10 if cpu else 100, cpu_threads=1,
                                          max_timed_calls=(200 if cand and cand.parent == CHEAT else 20) if cpu else 200)
            t = time.monotonic()
            before = len(rows)
            ev = evaluate(load_problem(_problem_path(problem)), _source(problem, cand), opts)
            row = rows[-1] if len(rows) > before else {}
            wall = time.monotonic() - t
            if row:
                print(f"| {name} | {problem} | {ev.verdict.value} | {row['claimed']:.3g} | {row['old']:.3g} [{row['old_low']:.3g}] | "
                      f"{row['new']:.3g} [{row['new_low']:.3g}] | {row['per_call_ms']:.3g} / {row['burst_ms']:.3g} | "
                      f"{row['ratios']} / {row['spread']} | "
                      f"{row['ref_ms']:.3g} | {wall:.0f} |", flush=True)
            else:
                reason = ev.reason.replace("|", "/")[:90]
                print(f"| {name} | {problem} | {ev.verdict.value} ({reason}) | | | | | | | {wall:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
