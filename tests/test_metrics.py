"""Suite metrics over per-problem scores."""

from __future__ import annotations

import math

import pytest

from kernelswarm.metrics import BASELINE, ProblemScore, fast_p, geomean, summarize, summarize_by_level


def _s(name: str, level: int | None, eager: float | None, best: float | None, agent: str | None, correct: bool = True):
    return ProblemScore(name, level, correct, eager, best, agent)


def test_averages() -> None:
    assert geomean([1.0, 4.0]) == pytest.approx(2.0)
    assert geomean([]) is None
    s = summarize([_s("a", 1, 1.0, 1.0, None), _s("b", 1, 4.0, 2.0, "x")])
    assert s.geomean_vs_eager == pytest.approx(2.0) and s.median_vs_eager == 2.5 and s.mean_vs_eager == 2.5
    assert s.geomean_vs_best == pytest.approx(math.sqrt(2.0))


def test_fast_p_counts_only_correct_results_strictly_faster() -> None:
    scores = [_s("a", 1, 1.0, 1.0, None), _s("b", 1, 1.5, 1.2, "x"), _s("c", 1, 3.0, 2.5, "y"),
              _s("d", 1, 1.3, 1.0, None, correct=False)]
    assert fast_p(scores, 1.0) == 0.5  # d's baseline result is faster than eager, but nothing was correct
    assert fast_p(scores, 1.5) == 0.25  # b is exactly 1.5: not more than 1.5
    assert fast_p(scores, 1.2, vs_best=True) == 0.25
    s = summarize(scores)
    assert s.fast_p_vs_eager[2.0] == 0.25 and s.correct_share == 0.75


def test_best_agent_share_and_levels() -> None:
    scores = [_s("a", 1, 2.0, 1.5, "x"), _s("b", 1, 1.0, 1.0, None), _s("c", 2, 3.0, 2.0, "x")]
    out = summarize_by_level(scores)
    assert [o.label for o in out] == ["level 1", "level 2", "all"]
    assert out[0].best_agent_share == {BASELINE: 0.5, "x": 0.5}
    assert out[2].n == 3 and out[2].best_agent_share["x"] == pytest.approx(2 / 3)
    assert [o.label for o in summarize_by_level(scores[:2])] == ["level 1"]
    assert summarize([]).n == 0 and summarize([]).geomean_vs_eager is None


def test_problems_never_measured_are_counted_apart_not_as_failures() -> None:
    """Issue 13.6: a run stopped after two of five problems: its shares are of the two it measured
    (before: correct 40%, fast_1.0 20%, 'baseline' credited with the three it never reached)."""
    measured = [_s("a", 1, 2.0, 1.5, "x"), _s("b", 1, 1.0, 1.0, None, correct=False)]
    never = [ProblemScore(n, 1, False, None, None, None, measured=False) for n in ("c", "d", "e")]
    s = summarize(measured + never)
    assert s.n == 2 and s.n_unmeasured == 3
    assert s.correct_share == 0.5 and s.fast_p_vs_eager[1.0] == 0.5
    assert s.best_agent_share == {BASELINE: 0.5, "x": 0.5}
    assert summarize(never).n == 0 and summarize(never).correct_share == 0.0
