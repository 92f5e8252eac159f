"""Inductor's parallel compile in the clean worker, with nothing of it left once timing starts.

Compiled one kernel after another (`compile_threads = 1`), a whole model's torch.compile baseline
took minutes (ResNet-50 on the H200: 290 s for its eager and compile baselines, most of it
compiling ~100 Triton kernels in turn). A pool of compile workers left running, though, shares the
cores with the timed calls (commit 081fc0b: a pool starting up in the background slowed them 50x
on a CPU). So the clean worker compiles in parallel only while it forces the whole compile (one
call of the compiled model, before any warm-up or timed call), then shuts every pool inductor
started (its thread pool for C++ and CUDA builds, its subprocess pool for Triton), waits until
their threads and processes are gone, and sets `compile_threads = 1` for the rest of its life: a
recompile after that (a guard failing, another shape) compiles in-process and starts no pool.

Only the clean worker uses a pool. A candidate's worker (built-in compile candidates included)
compiles in-process: its threads and processes are what the evaluator watches for work finished
after a call returned, and it is not trusted to shut a pool down.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator

MAX_THREADS = 8  # beyond this a model's kernels rarely compile faster, and each worker imports torch
ENV_THREADS = "KERNELSWARM_COMPILE_THREADS"  # "1": the old one-after-another compile


def pool_threads() -> int:
    """Compile workers for the clean worker: $KERNELSWARM_COMPILE_THREADS, else the cores this
    process may run on, at most MAX_THREADS."""
    with contextlib.suppress(ValueError):
        forced = int(os.environ.get(ENV_THREADS) or 0)
        if forced > 0:
            return forced
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_THREADS))


def others_in_session() -> list[int]:
    """Live processes this worker started: the other members of its session where it leads one
    (every worker does: what remains there after a shutdown is a compile pool's), else its
    descendants (a worker run inside another program's session must not count that program's)."""
    from kernelswarm.evaluate.worker import contain

    me = os.getpid()
    if os.getsid(0) == me:
        return [pid for pid in contain.session_members(me) if pid != me]
    parents: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                with open(f"/proc/{name}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
                if fields[0] != b"Z":
                    parents[int(name)] = int(fields[1])
    found, frontier = [], [me]
    while frontier:
        kids = [pid for pid, ppid in parents.items() if ppid in frontier]
        found += kids
        frontier = kids
    return sorted(found)


# Threads of inductor's pools: the C++/CUDA build threads and the Triton pool's reply reader. (Its
# quiesce timer, "subproc_worker_timer", only sleeps and returns at its next wake-up.)
POOL_THREADS = ("ThreadPoolExecutor", "InductorSubproc")


def pool_threads_alive(before: set[threading.Thread]) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t not in before and t.name.startswith(POOL_THREADS)]


@contextlib.contextmanager
def parallel_compile(threads: int) -> Iterator[None]:
    """Compile with `threads` workers inside the block; after it, no pool and compile_threads = 1."""
    import torch._inductor.config as inductor_config

    before = set(threading.enumerate())
    inductor_config.compile_threads = threads
    try:
        yield
    finally:
        inductor_config.compile_threads = 1
        if threads > 1:
            shut_down(before)


def shut_down(threads_before: set[threading.Thread], timeout_s: float = 30.0) -> None:
    """Stop every compile pool inductor started in this process and wait until their threads and
    processes are gone; processes still there after `timeout_s` are killed (they are the pool's:
    nothing else runs in the clean worker's session)."""
    from torch._inductor import async_compile

    stop = getattr(async_compile, "shutdown_compile_workers", None)
    if stop is not None:
        stop()  # the subprocess (Triton) pool: waits for its sidecar, which ends its workers
    pool = getattr(async_compile.AsyncCompile, "pool", None)  # lru_cached ThreadPoolExecutor
    if pool is not None and hasattr(pool, "cache_info") and pool.cache_info().currsize:
        pool().shutdown(wait=True)
        pool.cache_clear()
    deadline = time.monotonic() + timeout_s
    while others_in_session() and time.monotonic() < deadline:
        time.sleep(0.02)
    for pid in others_in_session():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    for thread in pool_threads_alive(threads_before):
        thread.join(max(0.0, deadline - time.monotonic()))  # ends once its pipe closed
