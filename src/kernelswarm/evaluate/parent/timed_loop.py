"""The timed loop: the candidate's timed calls, each paired with a reference call in the clean
worker, with empty calls there between them, and the rule that stops it (enough, decided)."""

from __future__ import annotations

import contextlib
import os
import random
import time
from typing import Any

from kernelswarm import intervals
from kernelswarm.evaluate.parent import cputime, ipsample, wallclock
from kernelswarm.evaluate.parent.candidate_timing import (
    NULL_EVERY,
    POOL_SIZE,
    CandidateTiming,
    CheckedCall,
    as_projections,
    fresh_seed,
    reservoir_slot,
)
from kernelswarm.evaluate.parent.options import EvalOptions
from kernelswarm.evaluate.parent.procs import WorkerProcess
from kernelswarm.evaluate.parent.request_order import (
    TIMED_FLUSH,
    candidate_settles,
    clean_settles,
    clean_timed_call,
    continue_before_prepare,
    net_ms,
    projects_at_return,
    stopped_beside,
)

# The timed calls stop once this share of the evaluation's time is left, and the bursts run only
# while this share is: a timing that ran to its limit leaves the bursts the difference (36 s of
# 240; nine bursts took 9-11 s at load 12 here). Equal (0.25 both, before session 12), a timing
# that ran to its limit skipped the bursts, and its claims stood checked call by call only: an
# under-claim that kept its interval wide (so that the timing never stopped early) went unchecked.
# Where the bursts still cannot run, the evaluation is a timeout, never an accepted claim
# (CandidateTiming.unchecked).
TIMED_UNTIL_LEFT, BURST_TIME_LEFT = 0.35, 0.2


def enough(n: int, total_ms: float, o: EvalOptions, deadline: float, precise: bool = True) -> bool:
    if n >= o.max_timed_calls:
        return True
    left = deadline - time.monotonic()
    if n >= 5 and left < TIMED_UNTIL_LEFT * o.timeout_s:  # leave time for checking and the baselines
        return True
    return n >= o.timed_calls and total_ms >= 1000.0 * o.min_timing_s and precise


# KERNELSWARM_NULLS_IN_CLEAN=1: the empty calls in the clean worker on a CPU too, as before session
# 22 (see null_worker), for before-and-after measurements.
NULLS_IN_CLEAN = os.environ.get("KERNELSWARM_NULLS_IN_CLEAN", "0") == "1"


def null_worker(clean: WorkerProcess, fl: WorkerProcess, device: str) -> WorkerProcess:
    """The worker that makes the empty calls: on a CPU the flush worker, where it is a process of
    its own. In the clean worker (as on a GPU, where this is not measured yet) that worker ran one and a
    half requests for each of the candidate's and stayed the warmer of the two: its `prepare` ran
    0.05-0.11 ms and its unclaimed time 0.06-0.09 ms a call shorter than the candidate's, in 5 of 5
    copies of softmax_rows under two burners; with no empty calls, -0.02 to +0.01 and +0.03 to
    +0.05 ms (docs/benchmarks.md, session 22). The flush worker is as clean as the reference's."""
    if device != "cpu" or NULLS_IN_CLEAN or fl is clean:
        return clean
    return fl


# The samples of a candidate's timed calls that its label's check wants (kind.MIN_IP_SAMPLES decides
# with fewer, where there are no more), and the bound on the calls it may add for them: this many
# times the timing's own most.
VOUCH_SAMPLES, VOUCH_CALLS = 40, 3

CI_EVERY = 10  # past the minimum, the interval is looked at every this many pairs...
CI_QUICK = 300  # ...with this many resamples: enough to see whether it is still wide
# KERNELSWARM_WIN_STOP=0: the timing stops only where the clocks' verdicts are settled too (as
# before session 15), never on cannot_win alone; for before-and-after measurements.
WIN_STOP = os.environ.get("KERNELSWARM_WIN_STOP", "1") != "0"


def decided(ref: list[float], cand: list[float]) -> bool:
    """Whether the paired interval no longer straddles 1 widely (more pairs could still decide it);
    looked at every CI_EVERY pairs only."""
    return len(cand) % CI_EVERY == 0 and not intervals.too_wide(intervals.ratio_ci(ref, cand, resamples=CI_QUICK))


def cannot_win(ref: list[float], cand: list[float]) -> bool:
    """Whether the paired interval of the claims lies wholly below 1: no gain at any margin, so
    no more calls can make the candidate a win (looked at every CI_EVERY pairs only).

    Since session 14 a speedup counts only as far as the wall clock confirms it (wallclock.vouch),
    and every check of the clocks can only charge: both lower the candidate's speedup, never
    raise it. A timing stopped here leaves the decision as it would be at any count (the baseline
    stands); the per-call checks and the bursts still judge the claims that were timed. What a
    liar could gain by it is a stop at the minimum count with claims that show it slower than the
    reference: nothing to win with. On a GPU (100 calls at least, 500 at most) an honest slower
    candidate's timing ran on while the per-call checks settled (wallclock.can_stop), to decide
    a verdict that makes no difference to the decision."""
    return len(cand) % CI_EVERY == 0 and intervals.ratio_ci(ref, cand, resamples=CI_QUICK)[1] < 1.0



def timed_loop(worker: WorkerProcess, clean: WorkerProcess, o: EvalOptions, deadline: float, result: CandidateTiming,
                n_sampled: int, flusher: WorkerProcess | None = None,
                vouch: bool = False) -> tuple[list[float], list[float], list[float]]:
    """The candidate's timed calls, each paired with a reference call in the clean worker (their
    times go to `result.ref_times`), and empty calls (in null_worker); returns the claimed ms, and the
    unclaimed wall ms of each candidate call and of each empty call. Each call's
    outputs are projected at the start of the next request (on a GPU in a `project` sent right
    after the call, projects_at_return), on vectors drawn from a seed sent only then; `n_sampled` of all calls, a uniform sample chosen as they return, are kept for a full check.
    `vouch`: where the parent samples the calls (a CPU), they go on past the timing's own stop
    until the samples can vouch for a custom kernel's label or not (vouch_more)."""
    rng = random.SystemRandom()
    at_return = projects_at_return(o.device)
    fl = flusher or clean
    times: list[float] = []
    slack: list[float] = []
    null_slack: list[float] = []
    prepares: list[float] = []  # the candidate's `prepare` requests' ms
    result.cpu_marks, result.ref_cpu, result.ref_stops, result.stop_marks = [], [], [], []  # this window's
    result.delay_marks, result.null_cpu, result.null_stops = [], [], []
    if result.cpu_threads and fl is not clean:
        with worker.stopped():  # nothing of the candidate's may make the clean worker's wake-ups dearer
            result.stop_ms = cputime.stop_cost_ms(clean.proc.pid)
    keep_slot: int | None = None  # the slot the last call's outputs go to, sent with the next request
    # On a CPU the parent samples where the candidate's timed calls ran (ipsample: the label's check
    # from outside), and the clean worker's calls alike, so that the sampling costs both the same.
    # Also where its source builds no kernel (its label is then pytorch-rewrite whatever ran): left
    # unsampled, copies of softmax_rows under two burners measured 0.39-0.86x, 0 of 6 intervals
    # holding 1 (sampled, beside them: 0.79-1.00x, 2 of 6). The sampling's noise widens the clocks'
    # allowances, which the candidate's seat's extra unclaimed time (0.14-0.23 ms a call) then
    # stays within (docs/benchmarks.md, session 22).
    sampler, clean_sampler, null_sampler = None, None, None
    nw = null_worker(clean, fl, o.device)
    if o.device == "cpu":
        clean_sampler, machine_note = ipsample.start(_worker_pid(clean))
        if clean_sampler is None:  # the machine permits no perf events: the label stands on the worker's word
            result.ip_note = machine_note
        else:
            # The empty calls sampled as the timed calls are: the same cost on all three kinds.
            null_sampler = clean_sampler if nw is clean else ipsample.start(_worker_pid(nw))[0]
            sampler, note = ipsample.start(_worker_pid(worker))
            # The clean worker could be sampled and the candidate's could not: it made itself so
            # (cheat/label_unsampled), and nothing then vouches for its label.
            result.ip_blocked = sampler is None
            result.ip_note = note and f"its worker refused the evaluator's sampling, as the clean worker did not: {note}"

    after_null = False
    # The candidate's process stays stopped across the clean worker's calls that follow one
    # another (a reference call and an empty one, in either order): one stop and continue where
    # there were two (about 5 ms each on the H200 host, issue 16). Nothing of the candidate's runs
    # in between either way; it is continued before any request of its own.
    held = contextlib.ExitStack()
    holding = False

    def hold() -> None:
        nonlocal holding
        if not holding:
            held.enter_context(worker.stopped())
            holding = True

    def release() -> None:
        nonlocal holding
        held.close()
        holding = False

    def project_last(whole: bool = False) -> None:
        """The last call's outputs projected (and kept) in a request of its own, charged to that
        call: what it took beyond a typical `prepare` (which projects too, and draws inputs), or
        all of it with `whole` (projects_at_return: no `prepare` projects then)."""
        nonlocal keep_slot
        last = result.calls[-1]
        msg = {"op": "project", "seed": last.project_seed, **({"keep_slot": keep_slot} if keep_slot is not None else {})}
        keep_slot = None
        last.projections = as_projections(worker.call(msg, deadline=deadline)[0].get("projections"))
        typical = 0.0 if whole or not prepares else wallclock.median(prepares)
        slack[-1] += max(0.0, net_ms(worker) - typical)

    def clean_project() -> float:
        """Where projects_at_return: the clean worker's last outputs projected as the candidate's
        are, in a request of their own right after the call; its ms (0 elsewhere: the next
        `prepare` projects them)."""
        if not at_return:
            return 0.0
        clean.call({"op": "project", "seed": fresh_seed()}, deadline=deadline)
        return net_ms(clean)

    def stopped_flush() -> dict[str, Any]:
        if result.cpu_threads:  # read while it is stopped: all it used since the last timed call
            result.cpu_marks.append(worker.cpu_ms())
            result.stop_marks.append(worker.stops)
            result.delay_marks.append(worker.delay_ms())
        return fl.call({"op": "flush"}, deadline=deadline)[0]

    def reference_call() -> None:
        # As a candidate's call: inputs, then the clean worker's flush, then the call; here all in
        # the clean worker, the candidate's process stopped meanwhile.
        nonlocal after_null
        hold()
        if clean_settles(o.device):
            clean.call({"op": "settle"}, deadline=deadline)
        cpu_before = clean.cpu_ms() if result.cpu_threads and fl is not clean else -1.0
        stops_before = clean.stops if cpu_before >= 0 else 0
        continue_before_prepare(clean, o.device)  # its stop, left out of its CPU time as the candidate's
        msg: dict[str, Any] = {"op": "prepare", "pool_index": len(result.ref_times) % POOL_SIZE, "key": fresh_seed()}
        if result.ref_times and not at_return:  # its previous outputs projected, as the candidate's are
            msg["project_seed"] = fresh_seed()
        clean.call(msg, deadline=deadline)
        prepare_ms = net_ms(clean)
        with ipsample.window(clean_sampler):
            reply = clean_timed_call(clean, fl, {"op": "time_call", "prepared": True, "flush": TIMED_FLUSH},
                                     deadline, o.device)
        call_ms = net_ms(clean) + clean_project()
        if cpu_before >= 0:  # its prepare and call (the flush is another process's)
            result.ref_cpu.append(clean.cpu_ms() - cpu_before)
            result.ref_stops.append(clean.stops - stops_before)  # stopped for the flush (flush_symmetric)
        result.ref_times.append(float(reply["ms"]))
        result.ref_slack.append(prepare_ms + call_ms - result.ref_times[-1])
        after_null = True

    def done() -> bool:
        n = len(times)
        # The allowance and the interval are only looked at once the minimum is met (the bootstrap costs).
        # Every CI_EVERY calls, the cheap rule first: the interval's bootstrap (decided, about
        # 25 ms at 200 pairs here) only where the clocks' verdicts are settled.
        # Or the decision is settled whatever the checks find: the claims cannot win (cannot_win).
        precise = (n >= o.timed_calls and n % CI_EVERY == 0
                   and ((wallclock.can_stop(times, slack, null_slack, result.ref_slack,
                                            wallclock.median(result.ref_times))
                         and decided(result.ref_times, times))
                        or (WIN_STOP and cannot_win(result.ref_times, times))))
        return enough(n, sum(times), o, deadline, precise) and not vouch_more(n)

    def vouch_more(n: int) -> bool:
        # Tiny calls at the minimum count (10 in the tests) gave 9-13 samples, the label's check
        # then on the edge of too few to decide (cheat/label_thread_hide was labelled custom-kernel
        # once in CI): more calls, each timed and paired as any other, up to a bound.
        if not vouch or sampler is None or n >= VOUCH_CALLS * o.max_timed_calls:
            return False
        if deadline - time.monotonic() < TIMED_UNTIL_LEFT * o.timeout_s:
            return False
        earlier = result.ip_samples.total if result.ip_samples is not None else 0
        return sampler.count + earlier < VOUCH_SAMPLES

    def null_call() -> None:
        nonlocal after_null
        # The candidate's process is stopped meanwhile, and what it queued on the device drains
        # first: nothing of it may slow the calibration down and so widen what it is allowed.
        hold()
        if clean_settles(o.device):
            nw.call({"op": "settle"}, deadline=deadline)
        cpu_before = nw.cpu_ms() if result.cpu_threads and fl is not clean else -1.0
        stops_before = nw.stops if cpu_before >= 0 else 0
        continue_before_prepare(nw, o.device)
        msg = {"op": "prepare", "pool_index": 0, "key": fresh_seed(), **({} if at_return else {"project_seed": fresh_seed()})}
        nw.call(msg, deadline=deadline)
        prepare_ms = net_ms(nw)
        # As a candidate's call: the flush worker's flush first (its own, where it makes the call).
        with ipsample.window(null_sampler):
            reply = clean_timed_call(nw, fl, {"op": "time_call", "null": True, "prepared": True,
                                              "flush": TIMED_FLUSH}, deadline, o.device)
        call_ms = net_ms(nw) + (clean_project() if nw is clean else 0.0)
        if cpu_before >= 0:  # as the reference call's: its prepare and call, its stops counted
            result.null_cpu.append(nw.cpu_ms() - cpu_before)
            result.null_stops.append(nw.stops - stops_before)
        null_slack.append(prepare_ms + call_ms - float(reply["ms"]))
        result.null_inside.append(1000.0 * float(reply.get("op_s", 0.0)) - float(reply["ms"]))
        after_null = True

    try:
        for _ in range(3):
            null_call()
        while not done():
            # The reference's call of the pair comes first or second, drawn: neither always follows
            # the other's cache traces.
            reference_first = rng.random() < 0.5
            if reference_first:
                reference_call()
            release()  # the candidate's own requests follow
            i, j, key = len(times), len(times) % POOL_SIZE, fresh_seed()
            if after_null and candidate_settles(o.device):
                # The settle is charged to no call; the last call's outputs were projected before it
                # (projects_at_return), so no work done here reaches them. Projecting only the calls
                # a settle follows, in a `project` charged beyond the median `prepare` (500d7b8), let
                # cheat/noop_flush through on the H200 at 2.57x (bound 1.4): those calls' successors'
                # `prepare` then projected nothing while every empty call's still did, and the median
                # candidate request, lighter by a projection, hid a 0.25 ms lie. Now every call of
                # all three kinds pays for the same requests: prepare, time_call, project.
                # As the empty call does after the candidate's: whatever switching the device from the
                # other process costs (its context, its caches) is paid here, outside both measures.
                worker.call({"op": "settle"}, deadline=deadline)
            after_null = False
            msg: dict[str, Any] = {"op": "prepare", "pool_index": j, "key": key}
            earlier = result.calls[-1] if result.calls and result.calls[-1].projections is None else None
            if earlier is not None:
                msg["project_seed"] = earlier.project_seed
            if keep_slot is not None:  # the previous call's outputs kept inside this charged request
                msg["keep_slot"], keep_slot = keep_slot, None
            with stopped_beside(clean, fl):  # as the candidate's process is during the reference's call
                prepared = worker.call(msg, deadline=deadline)[0]
                prepare_ms = net_ms(worker)
                prepares.append(prepare_ms)
                # The time_call is in the candidate's pipe before it is continued (call_when_continued).
                with ipsample.window(sampler):
                    flush, reply = worker.call_when_continued({"op": "time_call", "prepared": True, "flush": TIMED_FLUSH},
                                                              lambda: stopped_flush(), deadline)
                result.flush_ms.append(float(flush.get("flush_ms", 0.0)))
            if earlier is not None:
                earlier.projections = as_projections(prepared.get("projections"))
            ms, wall_ms = float(reply["ms"]), 1000.0 * worker.last_wall_s
            if not (0.0 < ms <= wall_ms):
                result.wall_ok = False
                result.wall_detail = f"call {i} claimed {ms:.4g} ms but took {wall_ms:.4g} ms of wall time end to end"
            if reply.get("python_threads", 0) > 0:
                result.threads_left = True
            times.append(ms)
            slack.append(prepare_ms + net_ms(worker) - ms)
            op_s = reply.get("op_s")
            if isinstance(op_s, (int, float)):
                result.inside.append(1000.0 * float(op_s) - ms)
            result.calls.append(CheckedCall(j, key, reply["fingerprint_at_return"], f"timed call {i}", fresh_seed()))
            slot = reservoir_slot(i, n_sampled, rng)
            if slot is not None:  # chosen only now that the call has returned; copied out after the timing
                # Kept by the next `prepare` (or the last `project`), not a request of its own: a
                # candidate's process runs whatever a request asks, and the time of a lone `keep` was
                # charged to no call, a window to finish the kept call's output in (cheat/keep_work).
                keep_slot = slot
                entry = (f"timed call {i}", {
                    "op": "check", "pool_index": j, "pool_seed": result.pool_seeds[j], "key": key,
                    "weight_seed": result.weight_seed, "fingerprint_at_return": reply["fingerprint_at_return"]})
                if slot < len(result.kept):
                    result.kept[slot] = entry
                else:
                    result.kept.append(entry)
            if at_return:  # before anything else: no request between a call and its projection
                with stopped_beside(clean, fl):
                    project_last(whole=True)
            if not reference_first:
                reference_call()
            if i % NULL_EVERY == NULL_EVERY - 1:  # interleaved, so that load on the machine hits both alike
                null_call()
    finally:
        release()
        if null_sampler is not None and null_sampler is not clean_sampler:
            null_sampler.close()
        _take_samples(sampler, clean_sampler, worker, result)
    if result.calls and result.calls[-1].projections is None:
        project_last()
    return times, slack, null_slack


def _worker_pid(worker: WorkerProcess) -> int | None:
    """The worker's own process (its channel's peer: in a PID namespace, not its launcher)."""
    return getattr(getattr(worker, "chan", None), "peer_pid", None)


def _take_samples(sampler: ipsample.Sampler | None, clean_sampler: ipsample.Sampler | None, worker: WorkerProcess,
                  result: CandidateTiming) -> None:
    """The candidate's sampled timed calls, added to what earlier windows sampled, and their share
    in code from its own folder."""
    if clean_sampler is not None:
        clean_sampler.close()
    if sampler is None:
        return
    try:
        result.ip_samples = sampler.take().merged(result.ip_samples)
    finally:
        sampler.close()
    result.ip_own_share = result.ip_samples.share(ipsample.own_files(result.ip_samples, str(worker.workdir)))
