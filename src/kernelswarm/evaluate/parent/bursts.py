"""Bursts: the candidate's calls timed back to back by the parent's clock alone, against bursts of
empty calls and of the reference in the clean worker (burst_check)."""

from __future__ import annotations

import dataclasses
import os
import random
import time

from kernelswarm.evaluate.parent import burstvouch, wallclock
from kernelswarm.evaluate.parent.candidate_timing import (
    POOL_SIZE,
    CandidateTiming,
    CheckedCall,
    as_projections,
    fresh_seed,
)
from kernelswarm.evaluate.parent.options import EvalOptions
from kernelswarm.evaluate.parent.procs import WorkerProcess
from kernelswarm.evaluate.parent.request_order import (
    TIMED_FLUSH,
    candidate_settles,
    flush_for,
    flush_outside,
    net_ms,
    stopped_beside,
)
from kernelswarm.evaluate.parent.timed_loop import BURST_TIME_LEFT
from kernelswarm.evaluate.parent.windows import confirm_charges
from kernelswarm.evaluate.wire.chain import chained_keys

# Bursts (see burst_check): BURSTS bursts of calls (each waited for), each burst about BURST_MS of
# claimed work, within BURST_CALLS calls; of all their calls, BURST_CHECKED chosen after they
# returned have their fingerprints checked. Calls of BURST_UNTIL_MS or more get bursts of
# BURST_LONG_CALLS calls: the per-call check alone let an under-claim of long calls through under
# load (cheat/burst_fake at 1.69x, load 7.9, its claims above 20 ms: no bursts ran then).
BURST_UNTIL_MS, BURST_MS, BURSTS, BURST_CALLS, BURST_CHECKED = 20.0, 25.0, 3, (8, 2000), 48
BURST_LONG_CALLS = 3
# The burst bound from its least round (a lie shows in every round; see burst_check);
# KERNELSWARM_LEAST_BURST_ROUND=0: the median round, as before session 14, for comparison.
LEAST_BURST_ROUND = os.environ.get("KERNELSWARM_LEAST_BURST_ROUND", "1") != "0"


def burst_check(worker: WorkerProcess, clean: WorkerProcess, o: EvalOptions, deadline: float, result: CandidateTiming,
                times: list[float], seen_ms: float | None = None, flusher: WorkerProcess | None = None) -> wallclock.ClaimVerdict | None:
    """Time bursts of the candidate's calls (each waited for) against bursts of empty calls in the
    clean worker, by the parent's wall clock alone (wallclock.judge_burst); None where no time is
    left (BURST_TIME_LEFT). Calls of any length get bursts: long ones (by the claims)
    BURST_LONG_CALLS a burst, beside the reference's burst of the same round. Each burst call gets its own keyed
    inputs and returns a fingerprint; a random sample of them, chosen after the bursts returned,
    joins the timed calls' fingerprint check, so a burst that skipped work fails it. `seen_ms`:
    what a call took by the parent's clock (default: the claimed median), which sizes the bursts.

    On a busy machine a burst is preempted where a single short call is not (other processes run
    between slices of a long request), so a burst's calls take longer than the same calls timed
    alone, by several times with two processes burning both cores of a CPU. The clean worker's
    reference, timed alone beside the candidate (`result.ref_times`), also runs a burst of the same
    length in each round: how much slower its burst calls were than its lone calls is the load's
    inflation, and the candidate's burst is divided by it (never multiplied: on a quiet machine
    warm caches make bursts faster, and nothing is tightened)."""
    med = wallclock.median(times) if times else 0.0
    if not times or deadline - time.monotonic() < BURST_TIME_LEFT * o.timeout_s:
        return None
    lo, hi = BURST_CALLS
    each = max(seen_ms or med, med, 1e-3)
    # Long by the claims, as before: sized by a noisy parent's view, 0.1 ms claims would get
    # three-call bursts whenever load put 20 ms of unexplained time on their requests.
    n = max(lo if med < BURST_UNTIL_MS else BURST_LONG_CALLS, min(hi, int(BURST_MS / each) + 1))
    rng = random.SystemRandom()
    ref_med = wallclock.median(result.ref_times) if result.ref_times else 0.0
    walls: list[float] = []
    cand_walls: list[float] = []  # the candidate's, at least their CPU time over the allowed threads (burstvouch)
    null_walls: list[float] = []
    inflation: list[float] = []  # per round: the reference's burst calls over its lone calls
    ref_walls: list[float] = []  # per round: the reference's burst of as many calls as the candidate's
    done: list[CheckedCall] = []
    # Each burst starts from flushed caches, flushed from outside as before a timed call, on every
    # device (TIMED_FLUSH): a flush in the candidate's own request is one it can skip, and 5-8 ms of
    # a CPU flush spread over a burst's calls is most of a short call.
    flush = TIMED_FLUSH
    fl = flusher or clean
    for b in range(BURSTS):
        with worker.stopped():  # as for the empty calls: nothing of the candidate's runs meanwhile
            clean.call({"op": "settle"}, deadline=deadline)
            flush_for(clean, fl, deadline, o.device)
            clean.call({"op": "time_burst", "null": True, "calls": [[0, fresh_seed()] for _ in range(n)], "flush": flush},
                       deadline=deadline)
            null_walls.append(net_ms(clean))
            if ref_med > 0:
                flush_for(clean, fl, deadline, o.device)
                clean.call({"op": "time_burst", "calls": [[i % POOL_SIZE, fresh_seed()] for i in range(n)],
                            "project_seed": fresh_seed(), "flush": flush}, deadline=deadline)
                ref_walls.append(net_ms(clean))
                inflation.append(max(1.0, (ref_walls[-1] - null_walls[-1]) / n / ref_med))
        calls = [[i % POOL_SIZE, fresh_seed()] for i in range(n)]
        # Each call's projection seed comes with the request (keeping every burst output until
        # one is chosen would not fit): fresh per burst, and no projection onto dense random
        # vectors can be had without the output's values.
        project_seed = fresh_seed()
        with stopped_beside(clean, fl):
            if candidate_settles(o.device):
                worker.call({"op": "settle"}, deadline=deadline)
            flush_outside(worker, fl, deadline)
            cpu_before = worker.cpu_ms() if result.cpu_threads else -1.0
            reply = worker.call({"op": "time_burst", "calls": calls, "project_seed": project_seed, "flush": flush},
                                deadline=deadline)[0]
            cpu = worker.cpu_ms() - cpu_before if cpu_before >= 0 else 0.0
        walls.append(net_ms(worker))
        # For the bursts' vouch only: at least its CPU time over the threads it may use.
        cand_walls.append(max(walls[-1], cpu / result.cpu_threads if result.cpu_threads else 0.0))
        fps = reply.get("fingerprints")
        if not isinstance(fps, list) or len(fps) != n:
            return wallclock.ClaimVerdict(False, 1.0, f"burst {b}: {n} calls asked, fingerprints for "
                                                      f"{len(fps) if isinstance(fps, list) else 'none'} returned", noisy=False)
        if reply.get("python_threads", 0) > 0:
            result.threads_left = True
        projs = reply.get("projections")
        projs = projs if isinstance(projs, list) and len(projs) == n else [None] * n
        keys = chained_keys([key for _, key in calls], fps)  # the inputs each call was drawn from
        done.extend(CheckedCall(j, key, fp, "", project_seed + m, as_projections(p))
                    for m, ((j, _), key, fp, p) in enumerate(zip(calls, keys, fps, projs)))
    for k in sorted(rng.sample(range(len(done)), min(BURST_CHECKED, len(done)))):
        done[k].label = f"burst call {k}"
        result.calls.append(done[k])
    # The least of each where nothing is divided: noise on a machine only ever adds time. Divided
    # by each round's own inflation, the median round: one round whose reference burst a load
    # spike alone hit must not excuse a candidate's lie (as the least of them would). Less that
    # round's own empty burst, as its inflation is: less the least of them, a typical burst was
    # charged the rounds' spread (under load 12, 0.1-0.3 ms a call: an honest copy of a 0.17 ms
    # call was charged in three windows running).
    # Session 14: the least round, divided too (LEAST_BURST_ROUND). A bound no round agrees on is
    # noise, not a lie: under load 15 a copy of bmm_scale_softmax was rejected as a liar (17.6 ms
    # a burst call against a claimed 5.48 ms, bound 15 ms) and one of kl_div_loss charged to 0.79x,
    # while the per-call clock showed both copies' requests 8-14 ms *less* unclaimed than the
    # reference's. What a spike on the reference's burst excuses is bounded anyway: the speedup
    # counts only what the per-call clock vouches for (wallclock.vouch), so a lie the bursts let
    # through gains nothing beyond the per-call check's fixed allowance.
    if inflation:
        nulls = null_walls if confirm_charges() else [min(null_walls)] * len(null_walls)
        rounds = [(w - nulls[i]) / n / inflation[i] for i, w in enumerate(walls)]
        per_call = min(rounds) if LEAST_BURST_ROUND else wallclock.median(rounds)
    else:
        per_call = (min(walls) - min(null_walls)) / n
    if ref_walls:
        result.bursts.append(burstvouch.view(ref_med, cand_walls, ref_walls, null_walls, n))
    verdict = wallclock.judge_burst(times, per_call, n)
    # How much the clean worker's own bursts of the same calls differed from round to round: noise
    # the candidate cannot touch (it is stopped meanwhile), which a difference of two bursts
    # carries at least. The least round alone has no spread of its own to allow: a charge from it
    # (not a lie's rejection, which needs every round twice the claims) allows this one (session
    # 15: a copy of softmax_rows, claims equal to the reference's, charged 1.46x by it and 4.5x by
    # the relative bound at load 4-6, its burst the slower of each pair in three rounds by chance).
    own = [(r - z) / n for r, z in zip(ref_walls, null_walls)]
    spread = max(own) - min(own) if own and (confirm_charges() or LEAST_BURST_ROUND) else 0.0
    if LEAST_BURST_ROUND and spread > 0.0 and verdict.believed and verdict.charge > 1.0:
        allowed = wallclock.judge_burst(times, max(0.0, per_call - spread), n)
        verdict = dataclasses.replace(verdict, charge=allowed.charge, detail=(
            f"{verdict.detail}; less the clean worker's own rounds' spread, {spread:.3g} ms a call: "
            + (f"charged {med * allowed.charge:.4g} ms" if allowed.charge > 1.0 else "not charged")))
    if inflation and max(inflation) > 1.0:
        note = f" (bursts here ran {min(inflation):.2g}-{max(inflation):.2g}x slower than lone calls, by the reference's)"
        verdict = dataclasses.replace(verdict, detail=verdict.detail + note)
    if verdict.believed and ref_walls:
        # The reference's burst in the same round, warm as the candidate's: whatever cold caches
        # are worth, they are worth it to both (wallclock.judge_relative), less `spread` (above).
        deltas = [(w - r) / n for w, r in zip(walls, ref_walls)]
        if LEAST_BURST_ROUND:  # as the absolute bound: what every round shows (its noise then out)
            deltas = [min(deltas)]
        relative = wallclock.judge_relative(times, ref_med, deltas, spread=spread)
        verdict = dataclasses.replace(verdict, charge=max(verdict.charge, relative.charge),
                                      detail=f"{verdict.detail}; {relative.detail}")
    return verdict
