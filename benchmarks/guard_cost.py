"""What the disk and memory guard's thread (evaluate/parent/guard.py) costs beside a timing.

    python benchmarks/guard_cost.py --device cpu --rounds 3
    python benchmarks/guard_cost.py --device cuda --rounds 3

Evaluates a copy of the reference (its timing is a candidate's whose true speedup is 1) in rounds;
each round twice, once with the guard and once with the guard replaced by a stand-in that watches
nothing (this script's only: the evaluator has no switch to turn its bounds off), the order drawn
per round. Prints a markdown table: per run the candidate's and the reference's median ms, the
speedup and its interval, the guard thread's own CPU seconds (its /proc task's utime + stime) and
how many polls it made; then the guard's single steps timed alone (a free-space read, a walk of
the worker's folder, a resident-memory scan of a session).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from kernelswarm.evaluate import EvalOptions, evaluate  # noqa: E402
from kernelswarm.evaluate.parent import guard  # noqa: E402
from kernelswarm.problems.load import load_problem  # noqa: E402

PROBLEMS = {"cpu": ROOT / "tests" / "evaluate" / "problems" / "relu_linear.py",
            "cuda": ROOT / "src" / "kernelswarm" / "problems" / "suite" / "level1" / "softmax.py"}
CPU_S: list[float] = []  # the guard threads' CPU seconds, one per guard started
POLLS: list[int] = []


def _thread_cpu_s() -> float:
    """This thread's CPU seconds by its /proc task (utime + stime)."""
    tid = threading.get_native_id()
    fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Counted(guard.Guard):
    """The real guard, its thread's CPU time and polls recorded when it ends."""

    def _watch(self) -> None:
        polls = [0]
        wait = self._stop.wait

        def counted(timeout: float) -> bool:
            polls[0] += 1
            return wait(timeout)

        self._stop.wait = counted  # type: ignore[method-assign]
        try:
            super()._watch()
        finally:
            CPU_S.append(_thread_cpu_s())
            POLLS.append(polls[0])


class _Idle:
    """A stand-in that watches nothing."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def stop(self) -> None:
        pass


def _run(device: str, with_guard: bool) -> dict:
    problem = load_problem(PROBLEMS[device])
    source = re.sub(r"\bclass Model\(", "class ModelNew(", problem.source)
    guard.Guard = _Counted if with_guard else _Idle  # type: ignore[misc, assignment]
    CPU_S.clear()
    POLLS.clear()
    started = time.perf_counter()
    ev = evaluate(problem, source, EvalOptions.for_device(device, static_screen=False))
    wall = time.perf_counter() - started
    c, r = ev.candidate, ev.reference
    return {"guard": "with" if with_guard else "without", "verdict": ev.verdict.value, "wall_s": wall,
            "cand_ms": c.median_ms if c else float("nan"), "ref_ms": r.median_ms if r else float("nan"),
            "speedup": ev.speedup, "interval": ev.speedup_ci,
            "guard_cpu_s": sum(CPU_S), "polls": sum(POLLS)}


def _ci(ci: tuple[float, float] | None) -> str:
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "-"


def _steps(folder: Path) -> list[tuple[str, float]]:
    """Each of the guard's steps timed alone, ms (median of 50)."""
    sid = os.getsid(0)

    def timed(fn) -> float:
        runs = []
        for _ in range(50):
            t = time.perf_counter()
            fn()
            runs.append(1000 * (time.perf_counter() - t))
        return statistics.median(runs)

    return [("free-space read (statvfs)", timed(lambda: guard._free(str(folder)))),
            (f"walk of {folder}", timed(lambda: guard.usage(folder))),
            (f"resident memory of this session ({sid})", timed(lambda: guard.resident(sid)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    rng = random.Random(int.from_bytes(os.urandom(4), "little"))
    original = guard.Guard
    print(f"device {args.device}, load {os.getloadavg()[0]:.1f} at the start, {os.cpu_count()} cores")
    print("| guard | verdict | candidate ms | reference ms | speedup | interval | guard CPU s | polls | eval wall s | load |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |", flush=True)
    rows = []
    for _ in range(args.rounds):
        for with_guard in [True, False] if rng.random() < 0.5 else [False, True]:
            r = _run(args.device, with_guard)
            rows.append(r)
            print(f"| {r['guard']} | {r['verdict']} | {r['cand_ms']:.4g} | {r['ref_ms']:.4g} | {r['speedup'] or 0:.3f} | "
                  f"{_ci(r['interval'])} | {r['guard_cpu_s']:.3f} | {r['polls']} | {r['wall_s']:.1f} | "
                  f"{os.getloadavg()[0]:.1f} |", flush=True)
    for side in ("with", "without"):
        sp = [r["speedup"] for r in rows if r["guard"] == side and r["speedup"]]
        if sp:
            print(f"\nmedian speedup {side} the guard: {statistics.median(sp):.3f} over {len(sp)} runs")
    guard.Guard = original  # type: ignore[misc]
    print("\n| guard step | ms (median of 50) |\n| --- | --- |")
    for name, ms in _steps(ROOT / "src"):
        print(f"| {name} | {ms:.3f} |")


if __name__ == "__main__":
    main()
