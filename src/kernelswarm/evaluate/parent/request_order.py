"""The requests around each timed call, and what the parent's clock takes from them: which process
flushes the caches and which is stopped meanwhile, where a worker settles, where outputs are
projected, and a request's wall ms (net_ms)."""

from __future__ import annotations

import contextlib
import os
from typing import Any

from kernelswarm.evaluate.parent.procs import WorkerProcess


def flush_outside(worker: WorkerProcess, clean: WorkerProcess, deadline: float) -> float:
    """Flush the caches for the candidate's next timed call from `clean` (the flush worker, a
    second clean process), the candidate's process stopped meanwhile; returns the flush's ms.

    The reference's paired calls and the empty calls follow the same flush worker's flush: when the
    reference worker flushed before its own calls, every reference call ran in the process that had
    just run (the flush), every candidate call in one switched in after it, and a copy of the
    reference measured 0.92-0.95x with intervals excluding 1 (softmax_rows, this 2-core CPU under
    load; 1.03x with intervals around 1 with the flush worker). Nothing of the candidate's runs in it.

    Anything in the candidate's process can be rewritten, its flush included (issue 14.2: reached
    through `getattr(torch, "sys")`, replaced by a no-op, and the time it saved claimed as overhead).
    So a timed call is three requests: `prepare` (the inputs, and the previous call's projections)
    in the candidate's worker, this flush in the clean one, and `time_call`; the unclaimed time
    judged is that of both candidate requests, against the same three for an empty call. On a CPU
    the caches are the cores' own and the machine's, which a sweep from another process evicts
    alike (the clean worker's sweep runs on the same thread count): the candidate's worker flushes
    nothing itself and has no flush to skip or time to hide in one. Work moved into `prepare`
    shows in its wall time. A GPU's L2 is the device's, which the sweep from another context
    evicts too, and there as well no timed request of either worker flushes (see TIMED_FLUSH)."""
    with worker.stopped():
        reply = clean.call({"op": "flush"}, deadline=deadline)[0]
    return float(reply.get("flush_ms", 0.0))


# Both sides' timed requests follow the same events: each worker is stopped while the other's
# requests run, and continued (SIGCONT) right after the flush that precedes its own timed call.
# Off by default, as FORGIVE_WAIT (see net_ms): on together, under load 8-11 two timing cheats
# crossed their bounds once each in two runs (cheat/swapped_timer/nostatic 1.99x against 1.4,
# cheat/reply_rewrite/nostatic accepted at 1.6x where it is rejected), which main did not in as
# many runs at load 8 (docs/benchmarks.md, session 10: too few runs to tell noise from cause).
SYMMETRIC = os.environ.get("KERNELSWARM_TIMING_SYMMETRIC", "0") == "1"


def flush_symmetric(device: str) -> bool:
    """Whether every timed call of either worker follows the same events as the candidate's: its
    process stopped while the flush worker flushes, its `time_call` written while it is still
    stopped, and continued right as its wall clock starts (WorkerProcess.call_when_continued).
    The clean worker is not stopped during the candidate's requests (that is SYMMETRIC's other half).

    On by default on a GPU, where a claim holds the host's work inside its events (the launches
    between the start event and the first kernel, the wake-up after the whole-device synchronize):
    a process just continued from a stop runs that part slower than one that waited on its pipe,
    and the candidate's is the one always stopped. On the H200 copies of matmul_big (a 0.47 ms
    call) claimed 0.3-5% more than the reference they copy in 7 of 7 runs on the old order, and
    measured 0.86-1.00x with intervals excluding 1 in 6 (docs/benchmarks.md, session 13).
    On a CPU since session 22 as well. The continue wakes every thread of the process, the OpenMP
    pool's included, which are then awake when the call's parallel region starts; a clean worker
    that waited on its pipe wakes them inside its call. With the old order copies of softmax_rows
    on an idle 2-core CPU claimed 2-16% less than the reference they copy (7 of 7 evaluations);
    with this one 0-6% more. Session 16 had tried it here and found copies left 0.11-0.22 ms a call
    more unclaimed than the paired reference calls (0.01-0.17 without): that was the clean worker
    kept warm by the empty calls it also made (timed_loop.null_worker), now made in the flush worker.
    `KERNELSWARM_FLUSH_SYMMETRIC=0` restores the old order on any device (docs/benchmarks.md,
    session 22)."""
    value = os.environ.get("KERNELSWARM_FLUSH_SYMMETRIC", "")
    if value in ("0", "1"):
        return value == "1"
    return True



FORGIVE_WAIT = os.environ.get("KERNELSWARM_FORGIVE_WAIT", "0") == "1"  # see net_ms; off by default (SYMMETRIC)


def net_ms(proc: WorkerProcess) -> float:
    """The last request's wall ms by the parent's clock, less what the parent's own thread spent
    waiting for a core once it was sent (procs.thread_delay_s): the one measure of a request that
    load swamps is the trusted process's own wake-up, which no candidate's work is part of.

    On this 2-core CPU at load 13 a 0.15 ms call's request took 15 ms beyond its claim (spread
    14 ms), the workers' own threads waiting 0.02-0.09 ms of it: every wall-clock charge was
    one-sided noise of that size (docs/benchmarks.md, session 10). The same on every device:
    a GPU's time is in the worker's claims and bursts, the parent's scheduling in neither."""
    wait = proc.last_wait_s if FORGIVE_WAIT else 0.0
    return 1000.0 * max(0.0, proc.last_wall_s - wait)


def flush_for(proc: WorkerProcess, fl: WorkerProcess, deadline: float, device: str) -> float:
    """The flush before one of `proc`'s timed requests: `proc` stopped meanwhile where the flush
    worker is another process (as the candidate's is, flush_outside), so that a clean worker's
    call follows a SIGCONT of its process exactly as the candidate's does.

    Before (session 9), only the candidate's process was stopped and continued right before its
    timed call; its threads (the OpenMP pool's included) woke then, on the cores the call was
    about to use, while the reference's call followed its own prepare undisturbed: copies' claimed
    medians ran 1-8% above the reference's under load 11-14 on this CPU, 2-6% on the H200."""
    if not stops_for_flush(proc, fl, device):
        return float(fl.call({"op": "flush"}, deadline=deadline)[0].get("flush_ms", 0.0))
    return flush_outside(proc, fl, deadline)


def stops_for_flush(proc: WorkerProcess, fl: WorkerProcess, device: str) -> bool:
    return fl is not proc and (SYMMETRIC or flush_symmetric(device))


def clean_timed_call(proc: WorkerProcess, fl: WorkerProcess, msg: dict[str, Any], deadline: float,
                     device: str) -> dict[str, Any]:
    """A clean worker's timed request after the flush worker's flush, by the same events as the
    candidate's where flush_symmetric: stopped during the flush, the request written while stopped,
    the clock started as it is continued."""
    if not stops_for_flush(proc, fl, device):
        fl.call({"op": "flush"}, deadline=deadline)
        return proc.call(msg, deadline=deadline)[0]
    return proc.call_when_continued(msg, lambda: fl.call({"op": "flush"}, deadline=deadline)[0], deadline)[1]


def stopped_beside(clean: WorkerProcess, fl: WorkerProcess) -> contextlib.AbstractContextManager[None]:
    """The clean worker stopped during the candidate's requests, as the candidate's process is
    during the clean worker's (where the flush worker is a third process: it must run)."""
    if fl is clean or not SYMMETRIC:
        return contextlib.nullcontext()
    return clean.stopped()


# What a timed request (`time_call`, `time_burst`) asks its worker to flush itself, on every device:
# nothing. Until session 18 a GPU's were asked to (for the candidate context's persisting L2 lines,
# which only that context can reset): the empty calls' and the reference's requests paid for their
# flush, and a candidate whose flush was a no-op did not. cheat/noop_flush/nostatic was accepted at
# 1.86x on the H200 (bound 1.4), and at 1.30x and 1.06x on the tree before. Every flush before a
# timed call or a burst is the flush worker's, with the candidate's process stopped (flush_outside);
# a persisting window is the static screen's to refuse (cheat/l2_persist).
TIMED_FLUSH = False


def candidate_settles(device: str) -> bool:
    """Whether the candidate's worker is sent `settle` before its calls: only where settling is
    real (a GPU drains other contexts' queued work). A request of the candidate's process that no
    clock charges is time to compute in: on a CPU, where settling waits for nothing, the skipped
    work of each call was done there, untimed, and its projections came out right
    (cheat/settle_work, accepted before). Where it settles, every call's outputs are projected
    before any settle can come (projects_at_return)."""
    return device != "cpu"


def clean_settles(device: str) -> bool:
    """Whether the clean worker is sent `settle` before its reference and empty calls in the timed
    loop: only where the candidate's is too (candidate_settles), so that either side's `prepare` is
    the first request of its process since the other's call, or neither's is. Where neither
    settles, the clean worker is stopped and continued right before its `prepare` instead
    (continue_before_prepare), as the candidate's process is.

    On a CPU the settle waits for nothing, but it was the clean worker's first request after the
    candidate's call and the flush worker's sweep (which evicts every cache), uncharged: its
    `prepare` then ran in a process already brought back in, the candidate's did not. A copy of
    softmax_rows left 0.05-0.09 ms a call more unclaimed in its `prepare` than the paired reference
    call, at every decile of the pairs (the worker's own time for it alike), and the paired check
    charged copies to 0.5-0.7x at load 2-3 on this 2-core CPU; sent a settle before its `prepare` as
    a probe, the copy's `prepare` cost what the reference's did (-0.01 ms; benchmarks/slack_split.py,
    docs/benchmarks.md session 17). Neither the sandbox, the PID namespace, nor a stop and continue
    of the clean worker right before its `prepare` changed it."""
    return candidate_settles(device)


def continue_before_prepare(proc: WorkerProcess, device: str) -> None:
    """Where the clean worker does not settle (clean_settles), it is stopped and continued right
    before its `prepare`, as the candidate's process is continued (the timed loop's `release`) right
    before its own: the continue wakes either process outside its clock. Without it, under load 5-6
    on this CPU, the clean worker's `prepare` woke it inside its clock and took 0.1-0.2 ms longer
    than the candidate's (docs/benchmarks.md, session 17)."""
    if not clean_settles(device):
        with proc.stopped():
            pass


def projects_at_return(device: str) -> bool:
    """Whether every timed call's outputs, the reference's and the empty calls' alike, are
    projected in a `project` of their own sent right after the call, its whole time charged to
    that call; elsewhere they are projected in the next `prepare`. Where the candidate's worker is
    sent an uncharged `settle` (a GPU), no request may come between a call and its projection
    (work finished there is free); and all three kinds of call must pay for the same requests,
    or the difference is room to under-claim (see _timed_loop)."""
    return candidate_settles(device)

