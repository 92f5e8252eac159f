"""The trusted clock's view of a candidate's claimed times.

Everything the candidate's process reports is a claim: its code can rewrite anything in that
process, the timer and the reply included. The parent's wall clock around each request is the
measure no candidate controls. A timed call's wall time is its claimed time plus overhead (the
input perturbation, the cache flush, the fingerprint, the pipe); the overhead is measured on calls
of an empty function in the clean reference worker, interleaved with the candidate's calls while
the candidate's process is stopped. Unclaimed time beyond that overhead and its noise was the
candidate's: it is charged for it, and a candidate that left most of its time unclaimed is lying.

Per call, that check cannot resolve less than its noise allowance (on a GPU about 0.2 ms: the
pipe, two processes' scheduling, their own overheads), which on a 0.1 ms problem is everything.
So where the claimed calls are short, the parent also times bursts of calls in one request each
(`judge_burst`): the pipe's cost is shared by hundreds of calls, and the burst's wall time, less
that of an empty burst in the clean worker, bounds what a call can have taken. Each burst call
starts on an idle device and is waited for, as a timed call is: the bound is the same latency the
claims measure, launches included (back to back without the waits it would be throughput, far
below a short call's latency: on an H200, 0.02 against 0.2 ms for a 1024-cube matmul). With the
caches warm rather than flushed an honest call takes no longer than alone, so a claim below the
bound, less a margin, is a lie, however short the call. What the burst cannot see: a candidate
that does its calls faster in a burst than alone (it sees the request; each call's inputs follow
from the previous call's outputs, wire/chain.py, so it cannot compute them together). The claims
can then go down to that real speed, never below it.

A burst's calls run with warm caches, and a lone call after a flush can take several times as long
(on this CPU a 128x512x96 matmul: 0.27 ms flushed, 0.08 ms warm). A claim down to the warm speed
passes the burst bound and hides under the per-call allowance (cheat/noop_flush: accepted at
1.6-2.7x as a copy of the reference). So the clean worker's reference runs a burst of as many calls
in every round as well. What cold caches add to a call is the time to bring its inputs and weights
in, which any implementation that reads them pays alike: the candidate's lone call takes at least
the reference's, plus what its burst calls took beyond the reference's (`judge_relative`; the
difference of two bursts of as many calls, so their per-call overheads cancel). It only charges,
never rejects: an honest kernel that hides its loads better than the reference is charged down to
the bursts' speed (understated, never overstated).

What neither can see: time a hostile worker saves by skipping work of the overhead itself (the
cache flush) and then leaves unclaimed.

Each check charges only what it can prove, so a lie within its noise stands; `vouch` then counts
a speedup only as far as the per-call clock, or the bursts (burstvouch.py), resolved it
(undecided where neither can). That is bounded by the flush's own cost (on an H100 about
0.1 ms per call; on a CPU several milliseconds), and is listed in the README.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Noise allowance for the unclaimed time per call: a statistical term (below), a share of the
# claimed median, and for what differs between two processes' calls of the same work (their own
# flush buffers and allocator histories: up to about a fifth of the empty call on a CPU here), a
# share of the empty call's cost and a floor.
WALL_Z, WALL_REL, WALL_OF_BASE, WALL_FLOOR_MS = 3.0, 0.05, 0.1, 0.1
# Timing goes on (up to the evaluation's call limit) until the statistical term is at most this
# share of the claimed median: on a noisy machine short calls need many samples before a lie shows.
WALL_PRECISION = 0.1
# The burst bound: a burst's time per call, less this share and this many ms for what two
# processes' bursts differ by (clocks, the allocator) and the pipe's noise spread over the burst.
BURST_REL, BURST_ABS_MS = 0.15, 0.003
# The paired check (judge_paired_slack): standard errors of the median of the paired differences,
# and the larger of a floor and a share of the reference's own call, allowed before a candidate's
# unclaimed time beyond the reference's is charged. Two clean processes' requests differ too: a
# copy of the reference left 0.1 ms a call more unclaimed than the reference (a 0.15 ms call, this
# CPU under load 6), and was charged to 0.77x before the share.
PAIRED_Z, PAIRED_FLOOR_MS, PAIRED_REL = 3.0, 0.02, 0.2
# The relative bound (judge_relative): the reference's lone calls, plus how much longer the
# candidate's burst calls took than the reference's in the same round, less this share of the
# reference's lone calls (and the rounds' spread about their median) for what load does between two bursts.
RELATIVE_MARGIN = 0.2
# Batches of consecutive calls whose medians' spread gives the paired differences' noise where
# load persists over many calls (_persistent_error): long batches, so that one load episode
# rarely spans two.
PERSIST_BATCHES = 10


@dataclass(frozen=True)
class ClaimVerdict:
    """What the wall clock says of a candidate's claimed per-call times."""

    believed: bool  # False: most of the time went unclaimed, beyond any noise (reject)
    charge: float  # factor on the claimed times; above 1 where the wall clock showed more
    detail: str  # one line for the check's report
    noisy: bool = True  # a verdict of the clocks, which load can sway (False: a structural lie)
    # Not believed, and no lie either: the CPU time shows the unclaimed time was a wait for a core
    # (cputime.waited); measured again, and where it stays so, the evaluation is undecided.
    undecided: bool = False


def median(xs: list[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def _median_error(xs: list[float]) -> float:
    """Standard error of the median of `xs`, from their median absolute deviation."""
    m = median(xs)
    sigma = 1.4826 * median([abs(x - m) for x in xs])
    return 1.2533 * sigma / math.sqrt(len(xs))


def _persistent_error(xs: list[float]) -> float:
    """Standard error of the median of `xs` (in time order) where load lasts many calls: from the
    spread of the medians of ten consecutive batches, and never below the independent samples'
    (`_median_error`). On a busy machine another process's burst covers several calls in a row:
    counted as independent luck, the paired differences of a copy of the reference looked
    precise, and the copy was charged to 0.41x (8.32 ms beyond the paired reference calls'
    against an allowance of 5.93 ms; docs/benchmarks.md, session 13)."""
    iid = _median_error(xs)
    b = max(2, len(xs) // PERSIST_BATCHES)
    k = len(xs) // b
    if k < 4:
        return iid
    meds = [median(xs[i * b:(i + 1) * b]) for i in range(k)]
    m = median(meds)
    # A spread from k batches is itself uncertain: Student's t for k - 1 degrees of freedom in
    # place of the normal at the checks' 3 standard errors (first-order Cornish-Fisher).
    widen = 1.0 + (PAIRED_Z ** 2 + 1.0) / (4.0 * (k - 1))
    return max(iid, widen * 1.2533 * 1.4826 * median([abs(x - m) for x in meds]) / math.sqrt(k))


def _statistical(slack: list[float], null_slack: list[float]) -> float:
    """WALL_Z standard errors of the difference of the two medians; the spread is the clean
    worker's, which the candidate cannot widen."""
    return WALL_Z * _median_error(null_slack) * math.sqrt(1.0 + len(null_slack) / max(1, len(slack)))


def allowance(times: list[float], slack: list[float], null_slack: list[float]) -> float:
    """Unclaimed ms per call that noise explains, given the samples so far."""
    base = max(0.0, median(null_slack))
    return _statistical(slack, null_slack) + WALL_REL * median(times) + WALL_OF_BASE * base + WALL_FLOOR_MS


def precise_enough(times: list[float], slack: list[float], null_slack: list[float]) -> bool:
    """Whether more samples would still narrow the allowance by much (its floor does not narrow)."""
    if len(null_slack) < 3 or not times:
        return False
    return _statistical(slack, null_slack) <= max(WALL_PRECISION * median(times), WALL_FLOOR_MS)


def _settled(excess: float, error: float, fixed: float, med: float) -> bool:
    """Whether a check whose allowance is `error` (its statistical term) plus `fixed` (what no
    number of samples narrows) has a verdict more samples cannot change: precise (its charge,
    if any, could still move by at most WALL_PRECISION of the claims), or clear (the excess,
    plus its own error, within the fixed part alone: no charge now, and none at any count).

    Clear on both sides: an excess far below zero (the candidate's requests shorter than the
    clean side's) is no evidence of honesty but of load falling on one side (on this 2-core CPU
    under load 10 the reference's worker waited milliseconds longer for a core), under which a
    lie hides; one-sided, cheat/noop_flush and cheat/reply_shave stopped at the tests' 10-call
    minimum and got through at 2.5x and 1.7x (bounds 1.4 and 1.5)."""
    return error <= WALL_PRECISION * med or abs(excess) + error <= fixed


def can_stop(times: list[float], slack: list[float], null_slack: list[float], ref_slack: list[float],
             reference_ms: float) -> bool:
    """The stop rule of the timed calls (issue 16): whether more calls could still change the
    verdict of either per-call check, the claims against the empty calls (judge_claims) and
    against the paired reference calls (judge_paired_slack). Each check's allowance is a
    statistical term, which narrows as calls come, plus a fixed part, which does not; more calls
    can change a verdict only where the excess lies within its error of that fixed part, or
    where a charge is still imprecise. Where every empty call carries milliseconds of its own
    (fresh 1 GiB inputs and projections on a GPU), the per-call error never got within a tenth
    of a 0.5 ms claim (`precise_enough`) and every honest evaluation ran to the call cap; the
    empty call's cost is in the fixed part (WALL_OF_BASE), so such a candidate is clear early.

    The error of each excess here is the candidate's own spread as well as the clean side's
    (for judge_claims larger than its statistical term, which is the clean worker's alone): a
    candidate can widen its own, which only delays the stop, never narrow the clean worker's.
    A liar stops early only with a lie within the fixed part, which the check allows at any
    count. The timing looks at this every CI_EVERY calls (timing.decided), at most a few dozen
    looks at a 3-standard-error margin."""
    if len(null_slack) < 3 or not times:
        return False
    med = median(times)
    stat = _statistical(slack, null_slack)
    error = max(stat, WALL_Z * math.hypot(_median_error(slack), _median_error(null_slack)))
    fixed = allowance(times, slack, null_slack) - stat
    paired = len(ref_slack) == len(slack)
    diffs = [c - r for c, r in zip(slack, ref_slack)] if paired else []
    diff_error = PAIRED_Z * _median_error(diffs) if diffs else 0.0
    # judge_claims takes the smaller of the excess over the empty calls' and over the paired
    # reference calls' (its own error added to the noise): either clear is no charge at any count.
    if not (precise_enough(times, slack, null_slack)
            or _settled(median(slack) - median(null_slack), error, fixed, med)
            or (bool(diffs) and abs(median(diffs)) + diff_error <= fixed)):
        return False
    if not paired:  # no paired calls: the claims' check alone
        return True
    return _settled(median(diffs), diff_error, max(PAIRED_FLOOR_MS, PAIRED_REL * reference_ms), med)


def split_note(inside: list[float], null_inside: list[float]) -> str:
    """Where the unclaimed time per call went, as the workers report their own op times: a
    diagnosis for the report (a hostile candidate can misreport its share), never a verdict."""
    if not inside or not null_inside:
        return ""
    return (f"; in the workers, as they report: {median(inside):.3g} ms unclaimed per timed call, "
            f"{median(null_inside):.3g} ms per empty call; the rest between the processes")


def judge_claims(times: list[float], slack: list[float], null_slack: list[float],
                 ref_slack: list[float] | None = None) -> ClaimVerdict:
    """`times`: the claimed ms per call; `slack`: wall minus claimed per call; `null_slack`: the same
    for empty calls in the clean worker; `ref_slack`: the same for the reference's calls in the
    clean worker, each paired with the candidate's call of the same index (None: not timed).

    A real call's request leaves more unclaimed than an empty one's on a busy machine (its
    threads wake, wait and are preempted around the timer): at load 7-10 on this CPU copies of
    the reference left 2-4 ms a call beyond the empty calls', the paired reference calls all but
    0.6-0.8 ms of it, and judged against the empty calls alone the copies were charged to
    0.74-0.84x with claims that agreed (docs/benchmarks.md, session 13). The reference's calls
    were never charged for it. So where the reference's calls were paired with the candidate's,
    the candidate's unclaimed time is taken beyond the reference's of the same pair (the median
    of the pairs' differences, with its own standard error added to the noise) when that is the
    smaller: what the clean reference's calls left unclaimed is what a call costs now, no lie.
    The candidate cannot inflate it (its processes are stopped during the reference's calls),
    and an under-claim still shows whole in its own slack, as before."""
    med = median(times)
    base = median(null_slack)
    excess = median(slack) - base
    noise = allowance(times, slack, null_slack)
    against = f"an empty call costs {base:.3g} ms"
    if ref_slack and len(ref_slack) == len(slack):
        diffs = [c - r for c, r in zip(slack, ref_slack)]
        if median(diffs) < excess:
            against += f"; {excess:.3g} ms beyond the empty calls', of which the paired reference calls left all but this"
            excess = median(diffs)
            noise += WALL_Z * _median_error(diffs)
    seen = (f"{excess:.3g} ms per call unexplained by the claimed {med:.3g} ms ({against}; "
            f"noise allows {noise:.3g} ms)")
    if excess > max(2.0 * noise, med):
        return ClaimVerdict(False, 1.0, f"the parent's wall clock disagrees with the claimed times: {seen}")
    if excess > noise:
        charge = (med + excess - noise) / med
        return ClaimVerdict(True, charge, f"{seen}: charged {med * charge:.4g} ms instead of the claimed {med:.4g} ms")
    return ClaimVerdict(True, 1.0, seen)


def judge_burst(times: list[float], per_call_ms: float, calls: int) -> ClaimVerdict:
    """`times`: the claimed ms per call (timed one by one, caches flushed); `per_call_ms`: wall
    ms per call of the candidate's bursts beyond the clean worker's empty ones."""
    med = median(times)
    floor = per_call_ms * (1.0 - BURST_REL) - BURST_ABS_MS
    seen = (f"in bursts, {calls} calls took {per_call_ms:.3g} ms each beyond the empty function's "
            f"(bound {max(floor, 0.0):.3g} ms) against the claimed {med:.3g} ms")
    if floor <= med:
        return ClaimVerdict(True, 1.0, seen)
    if floor > 2.0 * med:
        return ClaimVerdict(False, 1.0, f"the parent's wall clock disagrees with the claimed times: {seen}")
    return ClaimVerdict(True, floor / med, f"{seen}: charged {floor:.4g} ms")


def judge_relative(times: list[float], reference_ms: float, deltas: list[float], spread: float = 0.0) -> ClaimVerdict:
    """`times`: the candidate's claimed ms per call; `reference_ms`: the reference's lone calls'
    median, timed beside them by the clean worker; `deltas`: per round, ms by which the candidate's
    burst calls took longer than the reference's (negative: shorter); `spread`: how far apart the
    clean worker's own bursts of the reference were across the rounds, per call (trusted noise)."""
    med = median(times)
    delta = median(deltas)
    # The rounds' spread about their median: one round a load spike hit does not widen it (a
    # candidate can only make its own bursts slower, which raises the median it is held to). Of
    # three rounds that spread can be small by chance where the clean worker's own bursts of one
    # work varied by milliseconds a call (a copy of the reference was charged 2-5x under load 10):
    # their spread is allowed too.
    margin = RELATIVE_MARGIN * reference_ms + median([abs(d - delta) for d in deltas]) + max(0.0, spread)
    floor = reference_ms + delta - margin
    seen = (f"side by side in bursts, its calls took {delta:+.3g} ms against the reference's; the reference's "
            f"lone calls {reference_ms:.3g} ms (bound {max(floor, 0.0):.3g} ms) against the claimed {med:.3g} ms")
    if reference_ms <= 0.0 or floor <= med:
        return ClaimVerdict(True, 1.0, seen)
    return ClaimVerdict(True, floor / med, f"{seen}: charged {floor:.4g} ms")


def judge_paired_slack(times: list[float], slack: list[float], ref_slack: list[float], reference_ms: float) -> ClaimVerdict:
    """The candidate's unclaimed wall time per call against that of the reference's call it was
    paired with (the same requests, inputs of the same shapes, the same flush worker before
    each, adjacent in time): load falls on both calls of a pair alike, so their difference stays
    narrow on a busy machine where the empty calls' overhead, milliseconds on a CPU, hides a lie
    of a fraction of a millisecond (cheat/noop_flush: 0.19 ms of a 0.27 ms call). Charges only:
    what the candidate's process costs beyond a clean one's, past the allowance, is counted
    against it; a lie smaller than the allowance (a fifth of the reference's call) stands.
    `reference_ms`: the reference's claimed median."""
    med = median(times)
    diffs = [c - r for c, r in zip(slack, ref_slack)]
    excess = median(diffs)
    noise = PAIRED_Z * _persistent_error(diffs) + max(PAIRED_FLOOR_MS, PAIRED_REL * reference_ms)
    seen = f"{excess:.3g} ms per call unclaimed beyond the paired reference calls' (noise allows {noise:.3g} ms)"
    if excess <= noise or med <= 0.0:
        return ClaimVerdict(True, 1.0, seen)
    charge = (med + excess - noise) / med
    return ClaimVerdict(True, charge, f"{seen}: charged {med * charge:.4g} ms")


@dataclass(frozen=True)
class Resolution:
    """What the per-call wall clock can tell of the candidate's claims (`resolution`)."""

    excess_ms: float  # its estimate of the candidate's unclaimed ms per call beyond the reference's calls'
    noise_ms: float  # the noise of that estimate: a lie or a saving smaller than this is not seen
    allowed_ms: float  # what the charges allow on any machine (two processes' structural differences)

    @property
    def unseen_ms(self) -> float:
        """How much longer than claimed a call may have taken, by this clock: what it saw
        unclaimed beyond the clean calls', and its noise. Not less the charges' fixed allowance:
        with it, copies whose claims ran 1.28-1.34x below the reference's (argmax, load 12-15,
        the clock's noise 6-9 ms a call) were counted 1.10-1.12x and decided faster."""
        return max(0.0, self.excess_ms) + self.noise_ms


def resolution(times: list[float], slack: list[float], null_slack: list[float], ref_slack: list[float] | None,
               reference_ms: float) -> Resolution:
    """The per-call clock's view of one window: the candidate's unclaimed time against the
    paired reference calls' (their differences' median, PAIRED_Z standard errors of it with
    load's persistence counted, and judge_paired_slack's fixed allowance) or, where no reference
    call was paired, against the empty calls' (judge_claims's fixed allowance)."""
    if ref_slack and len(ref_slack) == len(slack) and len(slack) >= 3:
        diffs = [c - r for c, r in zip(slack, ref_slack)]
        return Resolution(median(diffs), PAIRED_Z * _persistent_error(diffs),
                          max(PAIRED_FLOOR_MS, PAIRED_REL * reference_ms))
    if len(slack) < 3 or len(null_slack) < 3 or not times:
        return Resolution(0.0, math.inf, 0.0)
    fixed = allowance(times, slack, null_slack) - _statistical(slack, null_slack)
    return Resolution(median(slack) - median(null_slack),
                      WALL_Z * math.hypot(_persistent_error(slack), _persistent_error(null_slack)), fixed)


@dataclass(frozen=True)
class Vouch:
    """How much of a claimed speedup the wall clock can confirm (`vouch`)."""

    vouched: float  # the speedup the clock confirms at most
    cap: float  # factor (>= 1) on the candidate's charged times: its speedup at most max(1, vouched)
    detail: str  # one line for the check's report


def vouch(reference_ms: float, claimed_ms: float, charged_ms: float, res: Resolution,
          burst_ms: float = math.inf, burst_detail: str = "") -> Vouch:
    """The speedup the wall clock vouches for: the reference's paired median over the longest
    the candidate's call may have taken unseen (its claimed median plus `res.unseen_ms`, or
    `burst_ms`, the longest by the bursts (burstvouch.bound_ms), where that is shorter; its
    charged median where that is longer). Both are bounds of trusted clocks with their noise in
    them, so the better-resolved counts: on a GPU's short call the per-call clock's noise is most
    of the call, the bursts' a few microseconds (session 14: a copy of a 0.46 ms call vouched
    for at 0.62-0.76x).

    Every check of the claims is one-sided: it charges what it can prove, and an under-claim
    within its noise stands. On this 2-core CPU under load 7-13 that noise was 2-14 ms a call
    against lies of 0.1-0.2 ms, and timing cheats were accepted at 1.4-3.4x (bounds 1.4) by
    chance. So the claims stand only as far as the clock could have seen them fail, and the
    speedup is counted at most as max(1, vouched): an under-claim is charged (above the noise)
    and in any case gains nothing beyond 1x, whatever the attack. An honest candidate is never
    counted below its charged claims or below 1, and on a quiet machine loses only the clock's
    noise; a real gain the clock cannot resolve is undecided (the interval's low end goes down to
    `vouched`), not a win."""
    if reference_ms <= 0.0 or charged_ms <= 0.0:
        return Vouch(math.inf, 1.0, "no speedup to vouch for")
    claimed = reference_ms / charged_ms
    per_call = claimed_ms + res.unseen_ms
    vouched = reference_ms / max(charged_ms, min(per_call, burst_ms))
    ceiling = max(1.0, vouched)
    cap = claimed / ceiling if claimed > ceiling else 1.0
    which = "the bursts' bound" if burst_ms < per_call else "the per-call clock"
    detail = (f"the wall clock's noise is {res.noise_ms:.3g} ms a call in these windows ({res.excess_ms:.3g} ms "
              f"unclaimed beyond the clean calls', {res.allowed_ms:.3g} ms allowed)"
              f"{'; ' + burst_detail if burst_detail else ''}: {which} confirms a speedup of at "
              f"most {vouched:.3g}x against the claimed {claimed:.3g}x")
    if cap > 1.0 and vouched <= 1.0:
        detail += "; counted as 1x, and any gain is undecided: the machine is too noisy"
    elif cap > 1.0:
        detail += f"; counted as {ceiling:.3g}x, what it confirms"
    return Vouch(vouched, cap, detail)
