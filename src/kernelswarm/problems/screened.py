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
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from kernelswarm import redact
from kernelswarm.evaluate.worker.support import read_cache, write_cache
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


def problem_flags(problem: Problem, device: str, timeout_s: float = TIMEOUT_S, gpu: str | None = None,
                  lock: TimingLock | None = None) -> ProblemFlags:
    """The screen's reasons for `problem` on `device`: cached, else screened in a child process
    (that sees only GPU `gpu`, a CUDA_VISIBLE_DEVICES entry, when given; registered with `lock`,
    when given, to be stopped during timings). Never raises for a problem that fails; a screen
    that could not run is reported as a flag and not cached, so the next run tries again."""
    import time

    key = cache_key(problem, device)
    hit = cached_flags(problem, device)
    if hit is not None:
        return hit
    started = time.monotonic()
    reasons, done = _screen_in_child(problem, device, timeout_s, gpu, lock)
    if done and not any(r.startswith("fails to run") for r in reasons):  # may be the moment's (memory)
        try:
            write_cache(CACHE_NAME, key, reasons)
        except OSError:
            pass  # a read-only cache costs a screen per run, nothing else
    return ProblemFlags(reasons, cached=False, seconds=time.monotonic() - started)


class TimingLock(Protocol):
    """What a run times under (evaluate.devicelock.DeviceLock): one timing at a time, and the
    process groups it stops while a timing is on."""

    def exclusive(self, what: str = "timing") -> AbstractContextManager[None]: ...

    def register(self, pgid: int) -> None: ...

    def unregister(self, pgid: int) -> None: ...


def screen_for_run(problem: Problem, device: str, lock: TimingLock, gpu: str | None = None,
                   beside: bool = False) -> list[str]:
    """How every run screens a problem, on one device or spread over GPUs or Ray actors: cached,
    else screened under this machine's lock of the device. The screen runs the reference about 15
    times and must not run beside a timing: either it holds `lock` (the run's timing lock)
    exclusively, or, with `beside` (a run that overlaps evaluations), its process is registered
    with `lock` like an evaluation's workers, stopped for as long as any timing lasts, and runs
    beside the other evaluations' builds and checks. Nothing of the screen is timed (time_it is
    off), so its verdict does not depend on what ran beside it, except for a failure to run or to
    finish (memory others held, the time they took): that one is screened again holding the lock.
    `gpu`: the CUDA_VISIBLE_DEVICES entry of the GPU the run's slot times on."""
    found = cached_flags(problem, device)
    if found is None:
        from kernelswarm.locks import device_lock

        with device_lock(device, gpu).hold():
            if beside:
                found = problem_flags(problem, device, gpu=gpu, lock=lock)
            if found is None or (not found.cached and _maybe_the_moment(found.flags)):
                with lock.exclusive("screen"):
                    found = problem_flags(problem, device, gpu=gpu)
    return list(found.flags)


def _maybe_the_moment(flags: list[str]) -> bool:
    """A flag that others running beside could have caused: a failure to run or to finish."""
    return any(f.startswith(("fails to run", "not screened")) for f in flags)


def launch_bound(device: str, eager_ms: float | None) -> str | None:
    """The screen's launch-bound flag, applied to an eager time measured elsewhere."""
    floor = LAUNCH_BOUND_MS.get(device, 0.0)
    if eager_ms is None or eager_ms >= floor:
        return None
    return f"launch-bound on {device}: eager {eager_ms:.3g} ms < {floor:g} ms"


def _screen_in_child(problem: Problem, device: str, timeout_s: float, gpu: str | None,
                     lock: TimingLock | None = None) -> tuple[list[str], bool]:
    """(reasons, whether the screen ran to its end). The child runs the user's problem code: it
    gets no secret of this environment (redact's rule), and only the run's GPU when one is named."""
    request = json.dumps({"name": problem.name, "path": str(problem.path), "source": problem.source,
                          "hash": problem.hash, "level": problem.level, "sizes": problem.sizes, "device": device})
    secrets = set(redact.secret_values())
    env = {k: v for k, v in os.environ.items() if not redact.is_secret_name(k) and v not in secrets}
    env["PYTHONPATH"] = os.pathsep.join(p for p in [_package_root(), os.environ.get("PYTHONPATH", "")] if p)
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
    try:
        stdout, stderr = _run_child(request, env, timeout_s, lock)
    except subprocess.TimeoutExpired:
        return [f"not screened: screening took longer than {timeout_s:.0f} s"], False
    except OSError as e:
        return [f"not screened: {e.__class__.__name__}: {e}"], False
    try:
        reply = json.loads(stdout.strip().splitlines()[-1])
        reasons = reply["reasons"]
        if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
            raise ValueError("reasons is not a list of strings")
    except (IndexError, ValueError, KeyError, TypeError):
        tail = (stderr.strip().splitlines() or ["no output"])[-1]
        return [f"not screened: the screening process failed ({tail[:200]})"], False
    return reasons, True


def _run_child(request: str, env: dict[str, str], timeout_s: float, lock: TimingLock | None) -> tuple[str, str]:
    """The screening child's (stdout, stderr); in a session of its own, registered with `lock`
    (stopped at once if a timing is on) before it has imported anything, and killed at the end."""
    proc = subprocess.Popen([sys.executable, "-m", "kernelswarm.problems.screen_child"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    if lock is not None:
        lock.register(proc.pid)
    try:
        return proc.communicate(request, timeout=timeout_s)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if lock is not None:
            lock.unregister(proc.pid)


def _package_root() -> str:
    import kernelswarm

    return str(Path(kernelswarm.__file__).resolve().parents[1])
