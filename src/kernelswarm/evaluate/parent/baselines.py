"""Baselines: eager and torch.compile timings of the reference, in a clean process.

torch.compile is timed alternately with eager in one window, so that the ratio of the two holds
whatever the load; a speedup over torch.compile chains that ratio with the candidate's own paired
ratio to eager (kernelswarm.intervals.chained_ci). Nothing here is cached across runs: a compile
timing cached once measured 1.9 ms for five runs while its eager time ranged from 1 to 6 ms.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kernelswarm.evaluate.parent.devicelock import NO_LOCK, DeviceLock, NoLock
from kernelswarm.evaluate.parent.options import EvalOptions
from kernelswarm.evaluate.parent.procs import WorkerFailed, WorkerProcess, init_message
from kernelswarm.evaluate.parent.baseline_timing import time_pair, time_worker
from kernelswarm.locks import LockWait, device_lock
from kernelswarm.problems.load import Problem, ProblemError, reference_failed
from kernelswarm.records import Mode, Timing


class MemoryPressure(RuntimeError):
    """A baseline was timed while too little device memory was free: others' processes held it.

    Convolutions and matrix products pick their algorithm on a first call, and PyTorch's cuDNN
    path takes the next algorithm when a workspace cannot be allocated, then keeps that choice. A
    baseline timed that way can be several times slower than the device allows, and every speedup
    over it inflated by as much; it is timed again once the device's memory is free."""


# References whose library picks an algorithm by the workspace it can get (cuDNN convolutions and
# recurrent layers). Elementwise work, reductions and matrix products (cuBLAS's workspace is small
# and fixed) run the same kernels whatever memory is free, so their baselines need no check.
_PICKS_BY_WORKSPACE = re.compile(
    r"\bConv(?:Transpose)?[123]d\b|\bconv(?:_transpose)?[123]d\s*\(|\b(?:LSTM|GRU|RNN)\b|\b(?:lstm|gru|rnn_tanh|rnn_relu)\s*\(")


def picks_by_workspace(problem: Problem) -> bool:
    """Whether the reference runs layers whose algorithm depends on the device memory free."""
    return bool(_PICKS_BY_WORKSPACE.search(problem.source))


def compile_pair(problem: Problem, o: EvalOptions, deadline: float, ref: WorkerProcess, spec: dict,
                 mode: str = "default", lock: DeviceLock | NoLock = NO_LOCK,
                 min_free_share: float = 0.0, failures: list[WorkerFailed] | None = None) -> tuple[Timing, Timing] | None:
    """Eager and torch.compile(mode) of the reference timed alternately, measured now (never
    cached: a baseline divides speedups only in the run that timed it); None if compiling fails
    (why appended to `failures`). Raises MemoryPressure if less than `min_free_share` of device
    memory was free."""
    try:
        pair = time_pair(ref, o, deadline, spec["spec"], secrets.randbits(62), mode, lock=lock)
    except WorkerFailed as e:
        if "out of memory" in f"{e.message} {e.detail}".lower():  # not the compiler's failure: say so, to retry
            raise ProblemError(f"{problem.path}: torch.compile baseline ran out of device memory: {e.message}") from None
        if failures is not None:
            failures.append(e)
        return None
    check_memory(ref, min_free_share, f"torch.compile ({mode}) baseline", deadline)
    return pair


def reference_spec(ref: WorkerProcess, msg: dict[str, Any], lock: DeviceLock | NoLock, deadline: float) -> dict[str, Any]:
    """The reference's output spec and floor. Only a device's first spec measures its peak rates,
    which is timing: that one holds the device exclusively."""
    if lock is NO_LOCK:  # alone on the device: one spec, measuring peaks if it must
        return ref.call(msg, deadline=deadline)[0]
    waited = lock.waited_s()
    spec = ref.call({**msg, "measure_peaks": False}, deadline=deadline)[0]
    if spec.get("peaks_missing"):
        with lock.exclusive("peak rates"):
            spec = ref.call(msg, deadline=deadline + lock.waited_s() - waited)[0]
    return spec


# The compile caches a seed holds: inductor's (FX graphs, C++ and Triton kernels it built) and
# Triton's own. Nothing else of the clean worker's folder (its log, temporary files) is kept.
SEED_CACHES = ("inductor_cache", "triton_cache")


def keep_caches(workdir: Path, dest: Path) -> None:
    """Copy the compile caches a clean worker filled in `workdir` to `dest` (replacing it). Only a
    clean worker's caches are ever kept: no candidate's process writes into a seed."""
    shutil.rmtree(dest, ignore_errors=True)
    for name in SEED_CACHES:
        if (workdir / name).is_dir():
            shutil.copytree(workdir / name, dest / name, symlinks=True)


def check_memory(ref: WorkerProcess, min_free_share: float, what: str, deadline: float) -> None:
    """Raise MemoryPressure if the clean worker saw less than `min_free_share` of device memory free."""
    if min_free_share <= 0.0:
        return
    seen = float(ref.call({"op": "memory"}, deadline=deadline)[0]["min_free_share"])
    if seen < min_free_share:
        raise MemoryPressure(f"{what}: only {seen:.0%} of device memory was free while the reference ran "
                             f"(others held the rest; below {min_free_share:.0%}, algorithms can fall back)")


def time_baselines(problem: Problem, device: str, compile_modes: tuple[str, ...] = ("default",),
                   timeout_s: float = 600.0, options: EvalOptions | None = None, lock: DeviceLock | NoLock = NO_LOCK,
                   min_free_share: float = 0.0, mode: str | None = None,
                   keep_compiled: Path | None = None,
                   on_lock_wait: Callable[[LockWait], None] | None = None,
                   on_compile_missing: Callable[[str, str], None] | None = None,
                   end_by: float | None = None) -> dict[str, Timing]:
    """{'eager': ..., 'compile:<mode>': ...}; a compile mode that fails is left out. `lock`: the
    device's DeviceLock when evaluations run beside this (its timings hold it; it is stopped during others').
    `min_free_share`: raise MemoryPressure if less of the device's memory was free around the
    reference's runs (beside other evaluations; their caller times it again alone), where the
    reference's library picks algorithms by the workspace it can get (`picks_by_workspace`).
    `mode`: --mode (train times forward plus backward); None takes the problem's own.
    `keep_compiled`: where to keep a copy of the compile caches the clean worker filled (none if
    no mode compiled): EvalOptions.compile_seed, the start of each candidate's own caches.
    `on_lock_wait`: told, before anything is timed, when another kernelswarm process's hold on the
    device kept these baselines waiting (locks.LockWait).
    `on_compile_missing`: told (mode, why) of each compile mode left out: "failed: ..." or "not
    measured in time (...)" (its worker killed at `timeout_s`: eager is then timed alone in a fresh
    clean worker with a fresh `timeout_s`, cut at `end_by`, a time.monotonic() instant)."""
    with device_lock(device, options.gpu if options else None).hold() as waited:  # as evaluate(): one kernelswarm per device
        if waited.holder and on_lock_wait is not None:
            on_lock_wait(waited)
        o = options or EvalOptions.for_device(device, timeout_s=timeout_s)
        if mode is not None:
            o = dataclasses.replace(o, mode=Mode(mode))
        told = on_compile_missing or (lambda cmode, why: None)
        return _time_baselines_held(problem, device, compile_modes, timeout_s, o, lock,
                                    min_free_share if picks_by_workspace(problem) else 0.0,  # else its kernels do not depend on it
                                    keep_compiled, told, end_by)


def _start_reference(problem: Problem, o: EvalOptions, device: str, lock: DeviceLock | NoLock, workdir: Path,
                     deadline: float) -> tuple[WorkerProcess, dict[str, Any]]:
    """A fresh clean worker with the reference loaded, and its output spec."""
    ref = WorkerProcess("reference", workdir, device, lock=lock, gpu=o.gpu)
    try:
        ref.call(init_message(problem, o), deadline=deadline)
        spec = reference_spec(ref, {"op": "spec", "seed": secrets.randbits(62)}, lock, deadline)
        if "train_error" in spec:
            raise ProblemError(f"{problem.path}: training mode: {spec['train_error']}")
    except WorkerFailed as e:
        ref.kill()
        raise reference_failed(problem.path, e.message) from None
    except BaseException:
        ref.kill()
        raise
    return ref, spec


def _time_baselines_held(problem: Problem, device: str, compile_modes: tuple[str, ...], timeout_s: float,
                         o: EvalOptions, lock: DeviceLock | NoLock, min_free_share: float,
                         keep_compiled: Path | None, told: Callable[[str, str], None],
                         end_by: float | None) -> dict[str, Timing]:
    deadline = time.monotonic() + timeout_s
    workdir = Path(tempfile.mkdtemp(prefix="kernelswarm-baseline-"))
    ref: WorkerProcess | None = None
    try:
        ref, spec = _start_reference(problem, o, device, lock, workdir, deadline)
        result: dict[str, Timing] = {}
        for i, cmode in enumerate(compile_modes):
            failures: list[WorkerFailed] = []
            pair = compile_pair(problem, o, deadline, ref, spec, cmode, lock=lock, min_free_share=min_free_share,
                                failures=failures)
            if pair is not None:
                if i == 0:  # the eager timing paired with the first mode's stands for eager
                    result["eager"] = pair[0]
                result[f"compile:{cmode}"] = pair[1]
                continue
            if failures and failures[0].kind == "timeout":  # killed at the deadline: the modes left would be too
                for left in compile_modes[i:]:
                    told(left, f"not measured in time (the {timeout_s:.0f} s limit ran out)")
                break
            told(cmode, f"failed: {failures[0].message}" if failures else "failed")
            if ref.proc.poll() is not None:  # died compiling: eager alone needs a clean worker
                for left in compile_modes[i + 1:]:
                    told(left, f"not measured (the clean worker died compiling {cmode})")
                break
        # Eager alone only where no first mode's pair gave it: timed first as well, it was a whole
        # timing window held exclusively and then thrown away.
        if "eager" not in result:
            if ref.proc.poll() is not None:  # killed (its time ran out) or died: never reused (EBADF)
                dead, ref = ref, None
                dead.kill()
                deadline = time.monotonic() + timeout_s if end_by is None else min(time.monotonic() + timeout_s, end_by)
                ref, spec = _start_reference(problem, o, device, lock, workdir, deadline)
            try:
                result["eager"] = time_worker(ref, o, deadline, spec["spec"], secrets.randbits(62), lock=lock)
                check_memory(ref, min_free_share, "eager baseline", deadline)
            except WorkerFailed as e:
                raise reference_failed(problem.path, e.message) from None
        if keep_compiled is not None and len(result) > 1:
            keep_caches(workdir, keep_compiled)
        return result
    finally:
        if ref is not None:
            ref.kill()
        shutil.rmtree(workdir, ignore_errors=True)
