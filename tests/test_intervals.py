"""Speedup intervals from paired samples, and what they decide."""

from __future__ import annotations

import random

import pytest

from kernelswarm import intervals
from kernelswarm.records import SpeedDecision


def _paired(n: int, ratio: float, load_sd: float = 0.6, noise_sd: float = 0.05, seed: int = 1):
    """`n` pairs timed side by side: a load factor shared by both calls of a pair (the machine's),
    and each call's own small noise. The reference takes `ratio` times the candidate's time."""
    rng = random.Random(seed)
    ref, cand = [], []
    for _ in range(n):
        load = rng.lognormvariate(0.0, load_sd)
        ref.append(ratio * load * rng.lognormvariate(0.0, noise_sd))
        cand.append(load * rng.lognormvariate(0.0, noise_sd))
    return ref, cand


def test_identical_code_under_heavy_load_gets_a_narrow_interval_around_1():
    """Pairing cancels the load: it varies by a factor of several, the interval stays near 1."""
    ref, cand = _paired(200, 1.0, load_sd=0.8)
    low, high = intervals.ratio_ci(ref, cand, seed=7)
    assert low <= 1.0 <= high
    assert high - low < 0.2
    assert intervals.decide((low, high), 0.02) is SpeedDecision.NOT_FASTER
    apart = intervals.ratio_ci(ref, list(reversed(cand)), seed=7)  # the same samples, pairs broken
    assert high - low < 0.8 * (apart[1] - apart[0])


@pytest.mark.parametrize("seed", range(20))
def test_twenty_identical_copies_all_contain_1(seed):
    ref, cand = _paired(60, 1.0, seed=100 + seed)
    assert intervals.contains(intervals.ratio_ci(ref, cand, seed=seed), 1.0)


def test_a_real_speedup_clears_the_margin():
    ref, cand = _paired(100, 1.5)
    low, high = intervals.ratio_ci(ref, cand, seed=3)
    assert 1.3 < low < 1.5 < high < 1.7
    assert intervals.decide((low, high), 0.02) is SpeedDecision.FASTER


def test_unpaired_noise_gives_a_wide_interval_and_more_pairs_narrow_it():
    rng = random.Random(5)
    noisy = lambda n: [rng.lognormvariate(0.0, 0.8) for _ in range(n)]  # noqa: E731 - load not shared
    few = intervals.ratio_ci(noisy(20), noisy(20), seed=1)
    many = intervals.ratio_ci(noisy(400), noisy(400), seed=1)
    assert intervals.too_wide(few)
    assert many[1] - many[0] < few[1] - few[0]


def test_the_seed_is_secret_by_default_and_fixed_on_request():
    ref, cand = _paired(50, 1.0)
    assert intervals.ratio_ci(ref, cand, seed=9) == intervals.ratio_ci(ref, cand, seed=9)
    draws = {intervals.ratio_ci(ref, cand, resamples=200) for _ in range(5)}
    assert len(draws) > 1


def test_chained_interval_multiplies_two_windows():
    """Candidate 2x eager in its window; torch.compile 1.6x eager in the baseline window."""
    ref, cand = _paired(100, 2.0, seed=1)
    compiled_over, eager = _paired(100, 1.0 / 1.6, seed=2)  # compile's time over eager's, side by side
    low, high = intervals.chained_ci([(ref, cand), (compiled_over, eager)], seed=4)
    assert low < 2.0 / 1.6 < high
    single = intervals.ratio_ci(ref, cand, seed=4)
    assert high - low > 0.5 * (single[1] - single[0])  # both windows' noise is in it


@pytest.mark.parametrize("ci, decision", [
    ((1.03, 1.10), SpeedDecision.FASTER),
    ((1.01, 1.05), SpeedDecision.NOT_FASTER),  # faster, but not beyond the 2% margin
    ((0.90, 1.05), SpeedDecision.NOT_FASTER),  # straddles, but narrowly: a copy of the baseline
    ((0.60, 1.40), SpeedDecision.UNDECIDED),  # straddles widely: the machine is too noisy
    ((0.40, 0.70), SpeedDecision.NOT_FASTER),  # clearly slower, however wide
    (None, SpeedDecision.UNDECIDED),
])
def test_decide(ci, decision):
    assert intervals.decide(ci, 0.02) is decision


def test_mismatched_pairs_are_refused():
    with pytest.raises(ValueError):
        intervals.ratio_ci([1.0, 2.0], [1.0])
