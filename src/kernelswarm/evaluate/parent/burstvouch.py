"""What the bursts vouch for: the longest a candidate's lone call can have taken, by the bursts.

The per-call wall clock (wallclock.resolution) cannot see less than its noise, the pipe and two
processes' scheduling around each request: on the H200 about 0.14 ms a call, so a real 2x kernel
of 0.46 ms would count about 1.2x (docs/benchmarks.md, session 14). A burst times hundreds of calls
in one request, and the reference's burst of as many calls runs in the same round: both warm, so
what cold caches add to a lone call is taken to be what they add to the reference's lone call, in
proportion: the candidate's lone call took at most the reference's times the ratio of their burst
calls' times (each less the empty function's; the worst round counted), times how far apart the
clean worker's own bursts of the reference were (load between two bursts moves the ratio as much)
and a share for what two processes' bursts of the same work differ by. A ratio, not a difference:
load that stretches both bursts of a round alike leaves it as it was (on this 2-core CPU under
load 12, bursts ran up to several times slower than lone calls, and differences of milliseconds
a call came out of 0.3 ms calls).

What the bursts really measured, and nothing else: each burst call's inputs are keyed by the
previous call's outputs (wire/chain.py), so a worker that sees the whole request cannot compute
its calls together; a sample of the calls is checked on those inputs; on a CPU a burst counts at
least its CPU time spread over the threads the candidate may use, so cores it should not use make
nothing faster. What they cannot see: a candidate whose lone calls are slower than its burst calls
in a larger proportion than the reference's (a larger working set, brought in cold) and which
under-claims within the per-call clock's noise is counted up to that difference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Rounds of bursts needed before they vouch, and the share of the reference's lone call allowed
# for what two processes' bursts of the same work differ by (their allocators, their clocks).
MIN_ROUNDS, VOUCH_REL = 3, 0.02


@dataclass(frozen=True)
class BurstView:
    """The bursts' view of a window: the candidate's burst calls against the reference's."""

    reference_ms: float  # the reference's lone calls' median in the window the bursts followed
    # Per round: the candidate's burst calls' time over the reference's of the same round, each
    # less the empty function's (load that stretched both bursts alike leaves it as it was).
    ratios: tuple[float, ...]
    # How far apart the clean worker's own reference bursts were: the longest round over the
    # shortest (load between two bursts of one round moves their ratio as much).
    spread: float
    calls: int  # calls in each burst


def view(reference_ms: float, cand_ms: list[float], ref_ms: list[float], null_ms: list[float], calls: int) -> BurstView:
    """A window's view from each round's burst wall ms: the candidate's (`cand_ms`), the
    reference's (`ref_ms`) and the empty function's (`null_ms`), all of `calls` calls, beside
    reference lone calls of median `reference_ms`. A round where either burst took no time
    beyond the empty one's vouches for nothing (its ratio is infinite): a call below the empty
    call's noise is unresolved, not fast, and a ratio of 0 would let any claim stand."""
    ratios, own = [], []
    for c, r, z in zip(cand_ms, ref_ms, null_ms):
        ratios.append((c - z) / (r - z) if r > z and c > z else math.inf)
        own.append(r - z)
    spread = max(own) / min(own) if own and min(own) > 0 else math.inf
    return BurstView(reference_ms, tuple(max(0.0, x) for x in ratios), spread, calls)


def merged(views: list[BurstView]) -> BurstView | None:
    """Several burst checks of one window (measured again) as one view: every round counts."""
    if not views:
        return None
    return BurstView(views[0].reference_ms, tuple(x for v in views for x in v.ratios),
                     max(v.spread for v in views), views[0].calls)


def bound_ms(v: BurstView | None) -> float:
    """The longest the candidate's lone call may have taken, by the bursts (inf: they vouch for
    nothing, too few rounds or no reference call)."""
    if v is None or len(v.ratios) < MIN_ROUNDS or v.reference_ms <= 0.0 or not math.isfinite(v.spread):
        return math.inf
    return v.reference_ms * max(v.ratios) * v.spread * (1.0 + VOUCH_REL)


def detail(v: BurstView | None) -> str:
    """One line for the report."""
    if v is None or not math.isfinite(bound_ms(v)):
        return "the bursts vouch for nothing here"
    return (f"by the bursts ({len(v.ratios)} rounds of {v.calls} calls, at most {max(v.ratios):.3g}x the reference's "
            f"burst calls' time, its own bursts {v.spread:.3g}x apart) a call took at most {bound_ms(v):.3g} ms")
