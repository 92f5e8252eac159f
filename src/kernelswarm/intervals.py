"""Confidence intervals for speedups, from paired samples, and the decision they support.

A speedup is a ratio of medians of two implementations timed in the same window, their calls
alternating (sample i of each comes from the same moment of the machine's load). Its interval
is a moving-block bootstrap over those pairs: blocks of consecutive pairs are resampled together,
so that load which lasts longer than one call (another process's burst) is resampled as a whole
instead of being counted as independent luck. Standard library only; the seed comes from
`secrets`, so nobody can predict which resamples are drawn.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Sequence

from kernelswarm.records import SpeedDecision

LEVEL = 0.99  # two-sided coverage: twenty honest copies of a reference should all contain 1
RESAMPLES = 2000
# An interval that straddles the margin and whose high end is more than this factor above its
# low end cannot tell a win from noise: time more, then call it undecided.
WIDE = 1.25

CI = tuple[float, float]


def median(xs: Sequence[float]) -> float:
    s = sorted(xs)
    n = len(s)
    if n == 0:
        raise ValueError("median of no samples")
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def _block(n: int) -> int:
    """Block length of the moving-block bootstrap: about the cube root of the sample count."""
    return max(1, min(10, round(n ** (1.0 / 3.0))))


def _ratio_draws(num: Sequence[float], den: Sequence[float], rng: random.Random,
                 resamples: int) -> tuple[list[float], list[float]]:
    """Per resample: the ratio of medians, and the median of the pairs' own ratios."""
    n = len(num)
    if n != len(den) or n == 0:
        raise ValueError(f"paired samples differ in length ({len(num)} and {len(den)}) or are empty")
    b = _block(n)
    starts = range(n - b + 1)
    k = -(-n // b)  # blocks per resample
    pair = [x / y if y > 0 else float("inf") for x, y in zip(num, den)]
    of_medians, of_pairs = [], []
    for _ in range(resamples):
        idx = [s + j for s in rng.choices(starts, k=k) for j in range(b)][:n]
        d = median([den[i] for i in idx])
        of_medians.append(median([num[i] for i in idx]) / d if d > 0 else float("inf"))
        of_pairs.append(median([pair[i] for i in idx]))
    return of_medians, of_pairs


def _quantiles(draws: list[float], level: float) -> CI:
    s = sorted(draws)
    tail = (1.0 - level) / 2.0
    lo = s[max(0, int(tail * len(s)))]
    hi = s[min(len(s) - 1, int((1.0 - tail) * len(s)))]
    return lo, hi


def _rng(seed: int | None) -> random.Random:
    return random.Random(secrets.randbits(64) if seed is None else seed)


def _union(a: CI, b: CI) -> CI:
    return min(a[0], b[0]), max(a[1], b[1])


def ratio_ci(num: Sequence[float], den: Sequence[float], level: float = LEVEL, resamples: int = RESAMPLES,
             seed: int | None = None) -> CI:
    """Interval of median(num) / median(den), where num[i] and den[i] were timed side by side.

    Where most calls are preempted on a busy machine, times are bimodal (a short call, or a short
    call plus another process's time slice) and a median sits on the edge between the modes: the
    bootstrap of a ratio of medians then misplaces its interval. The median of the pairs' own
    ratios does not (the load cancels within a pair); the interval is the union of both, so it is
    honest whichever of the two estimators the load has broken."""
    of_medians, of_pairs = _ratio_draws(num, den, _rng(seed), resamples)
    return _union(_quantiles(of_medians, level), _quantiles(of_pairs, level))


def chained_ci(pairs: Sequence[tuple[Sequence[float], Sequence[float]]], level: float = LEVEL,
               resamples: int = RESAMPLES, seed: int | None = None) -> CI:
    """Interval of a product of ratios, each from its own paired window (a/c = a/b * b/c when a
    and c were never timed side by side): the windows are resampled independently."""
    rng = _rng(seed)
    products = ([1.0] * resamples, [1.0] * resamples)
    for num, den in pairs:
        for product, draws in zip(products, _ratio_draws(num, den, rng, resamples)):
            for i, r in enumerate(draws):
                product[i] *= r
    return _union(_quantiles(products[0], level), _quantiles(products[1], level))


def decide(ci: CI | None, margin: float) -> SpeedDecision:
    """What an interval says of a speedup against a required gain `margin` (0.02 = 2%)."""
    if ci is None:
        return SpeedDecision.UNDECIDED
    low, high = ci
    bar = 1.0 + margin
    if low >= bar:
        return SpeedDecision.FASTER
    if high > bar and high > WIDE * low:
        return SpeedDecision.UNDECIDED
    return SpeedDecision.NOT_FASTER


def too_wide(ci: CI) -> bool:
    """Straddling no gain at all and wide: more samples may still decide it."""
    low, high = ci
    return low < 1.0 < high and high > WIDE * low


def contains(ci: CI | None, x: float) -> bool:
    return ci is not None and ci[0] <= x <= ci[1]
