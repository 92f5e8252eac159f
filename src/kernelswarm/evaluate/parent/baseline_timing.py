"""The baselines' timing in the clean worker: the reference eager or compiled alone (time_worker),
or eager and compiled with their calls alternating (time_pair)."""

from __future__ import annotations

import random
from typing import Any

from kernelswarm.evaluate.parent.candidate_timing import POOL_SIZE, fresh_seed
from kernelswarm.evaluate.parent.devicelock import NO_LOCK, DeviceLock, NoLock
from kernelswarm.evaluate.parent.options import EvalOptions
from kernelswarm.evaluate.parent.procs import WorkerProcess
from kernelswarm.evaluate.parent.timed_loop import decided, enough
from kernelswarm.records import Timing


def time_worker(worker: WorkerProcess, o: EvalOptions, deadline: float, spec: list[dict], weight_seed: int,
                compile_mode: str | None = None, lock: DeviceLock | NoLock = NO_LOCK) -> Timing:
    """Time the reference (eager or compiled) in the clean worker, under the same protocol.
    With the device lock, a compiled model is built first without it (compiling overlaps other
    evaluations' work) and timed holding it."""
    pool_seeds = [fresh_seed() for _ in range(POOL_SIZE)]
    setup = {"op": "time_setup", "pool_seeds": pool_seeds, "weight_seed": weight_seed, "spec": spec, "compile_mode": compile_mode}
    waited = lock.waited_s()
    if compile_mode and lock is not NO_LOCK:
        worker.call({**setup, "warmup_ms": 0.0}, deadline=deadline)  # compiles on its first calls
    with lock.exclusive(f"baseline {compile_mode or 'eager'}"):
        return _time_reference(worker, o, deadline + lock.waited_s() - waited, setup)


def time_pair(worker: WorkerProcess, o: EvalOptions, deadline: float, spec: list[dict], weight_seed: int,
              compile_mode: str, lock: DeviceLock | NoLock = NO_LOCK) -> tuple[Timing, Timing]:
    """Eager and torch.compile(compile_mode) of the reference, their calls alternating in the clean
    worker: sample i of each was timed side by side, so their ratio holds whatever the load. With the
    device lock, the compiled model is built first without it, as in `time_worker`."""
    setup = {"op": "time_setup", "pool_seeds": [fresh_seed() for _ in range(POOL_SIZE)], "weight_seed": weight_seed, "spec": spec}
    compiled_setup = {**setup, "compile_mode": compile_mode, "slot": "compile"}
    waited = lock.waited_s()
    if lock is not NO_LOCK:
        worker.call({**compiled_setup, "warmup_ms": 0.0}, deadline=deadline)  # compiles on its first calls
    with lock.exclusive(f"baselines eager and {compile_mode}"):
        deadline += lock.waited_s() - waited
        worker.call(setup, deadline=deadline)
        worker.call(compiled_setup, deadline=deadline)
        eager: list[float] = []
        compiled: list[float] = []
        rng = random.SystemRandom()

        def call(slot: str | None, out: list[float]) -> None:
            msg = {"op": "time_call", "pool_index": len(out) % POOL_SIZE, "key": fresh_seed(), "slot": slot}
            out.append(float(worker.call(msg, deadline=deadline)[0]["ms"]))

        def done() -> bool:
            n = len(compiled)
            return enough(n, sum(compiled), o, deadline, n >= o.timed_calls and decided(eager, compiled))

        while not done():
            pair = [(None, eager), ("compile", compiled)]
            rng.shuffle(pair)
            for slot, out in pair:
                call(slot, out)
    return Timing.from_samples(eager), Timing.from_samples(compiled)


def _time_reference(worker: WorkerProcess, o: EvalOptions, deadline: float, setup: dict[str, Any]) -> Timing:
    worker.call(setup, deadline=deadline)
    times: list[float] = []
    while not enough(len(times), sum(times), o, deadline):
        reply = worker.call({"op": "time_call", "pool_index": len(times) % POOL_SIZE, "key": fresh_seed()}, deadline=deadline)[0]
        times.append(float(reply["ms"]))
    return Timing.from_samples(times)
