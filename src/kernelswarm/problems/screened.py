"""Screening inside `run` and `eval`: each problem once per device, cached by its hash.

`problems check` screens on request; a run that never screened once accepted a 25.5x on a problem
whose output is always zero. Here the same screen (problems/screen.py) runs in a child process, so
the caller imports no torch and holds no device memory, without its timing (a run times the eager
baseline under its own protocol; `launch_bound` applies the same floor to that figure). Results
live in the evaluator's cache folder, which a candidate cannot write (its sandbox confines writes
to its own worker folder). Standard library only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from kernelswarm.evaluate.support import read_cache, write_cache
from kernelswarm.problems.load import Problem

# Bump when the screen's criteria change, so that cached verdicts are taken again.
SCREEN_VERSION = 1
CACHE_NAME = "screenings.json"
# Eager time under which a device mostly waits on kernel launches, so speedups measure overhead.
LAUNCH_BOUND_MS = {"cuda": 0.05, "mps": 0.05, "cpu": 0.01}
# The screen runs the reference about 15 times; generous, since a problem near a device's memory
# limit on a busy CPU can take minutes. A screen that does not finish is itself a flag.
TIMEOUT_S = 600.0


@dataclass(frozen=True)
class ProblemFlags:
    """What screening found about one problem on one device."""

    flags: list[str] = field(default_factory=list)  # one line each; empty when the problem is a fair test
    cached: bool = False  # taken from the cache rather than screened now
    seconds: float = 0.0  # what screening cost now (0 when cached)


def cache_key(problem: Problem, device: str) -> str:
    return f"{problem.hash}|{device}|v{SCREEN_VERSION}"


def cached_flags(problem: Problem, device: str) -> ProblemFlags | None:
    """The cached screening of `problem` on `device`, or None when it was never screened here."""
    hit = read_cache(CACHE_NAME).get(cache_key(problem, device))
    if isinstance(hit, list) and all(isinstance(r, str) for r in hit):
        return ProblemFlags(list(hit), cached=True)
    return None


def problem_flags(problem: Problem, device: str, timeout_s: float = TIMEOUT_S) -> ProblemFlags:
    """The screen's reasons for `problem` on `device`: cached, else screened in a child process.
    Never raises for a problem that fails; a screen that could not run is reported as a flag and
    not cached, so the next run tries again."""
    import time

    key = cache_key(problem, device)
    hit = cached_flags(problem, device)
    if hit is not None:
        return hit
    started = time.monotonic()
    reasons, done = _screen_in_child(problem, device, timeout_s)
    if done and not any(r.startswith("fails to run") for r in reasons):  # may be the moment's (memory)
        try:
            write_cache(CACHE_NAME, key, reasons)
        except OSError:
            pass  # a read-only cache costs a screen per run, nothing else
    return ProblemFlags(reasons, cached=False, seconds=time.monotonic() - started)


def launch_bound(device: str, eager_ms: float | None) -> str | None:
    """The screen's launch-bound flag, applied to an eager time measured elsewhere."""
    floor = LAUNCH_BOUND_MS.get(device, 0.0)
    if eager_ms is None or eager_ms >= floor:
        return None
    return f"launch-bound on {device}: eager {eager_ms:.3g} ms < {floor:g} ms"


def _screen_in_child(problem: Problem, device: str, timeout_s: float) -> tuple[list[str], bool]:
    """(reasons, whether the screen ran to its end)."""
    request = json.dumps({"name": problem.name, "path": str(problem.path), "source": problem.source,
                          "hash": problem.hash, "level": problem.level, "sizes": problem.sizes, "device": device})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in [_package_root(), os.environ.get("PYTHONPATH", "")] if p)}
    try:
        proc = subprocess.run([sys.executable, "-m", "kernelswarm.problems.screen_child"], input=request,
                              capture_output=True, text=True, timeout=timeout_s, env=env, start_new_session=True, check=False)
    except subprocess.TimeoutExpired:
        return [f"not screened: screening took longer than {timeout_s:.0f} s"], False
    except OSError as e:
        return [f"not screened: {e.__class__.__name__}: {e}"], False
    try:
        reply = json.loads(proc.stdout.strip().splitlines()[-1])
        reasons = reply["reasons"]
        if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
            raise ValueError("reasons is not a list of strings")
    except (IndexError, ValueError, KeyError, TypeError):
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return [f"not screened: the screening process failed ({tail[:200]})"], False
    return reasons, True


def _package_root() -> str:
    import kernelswarm

    return str(Path(kernelswarm.__file__).resolve().parents[1])
