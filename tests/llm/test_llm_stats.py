"""Per-model figures: correct share, best-on-problem share, mean speedup, tokens, cost, arms."""

from __future__ import annotations

import pytest

from kernelswarm.llm.stats import CandidateRow, arms_label, model_summary

pytestmark = pytest.mark.llm


def test_model_summary():
    rows = [
        CandidateRow("gpt", "relu", "accepted", 2.0, 100, 50, 0.01, ()),
        CandidateRow("gpt", "relu", "accepted", 4.0, 100, 50, 0.01, ("feedback",)),
        CandidateRow("gpt", "softmax", "compile_error", None, 100, 50, 0.01, ()),
        CandidateRow("claude", "relu", "accepted", 4.0, 10, 5, 0.5, ()),
        CandidateRow("claude", "softmax", "accepted", 1.0, 10, 5, 0.5, ()),
    ]
    by = {m.agent: m for m in model_summary(rows)}
    gpt, claude = by["gpt"], by["claude"]
    assert (gpt.candidates, gpt.problems, gpt.correct_share) == (3, 2, 0.5)
    assert gpt.best_share == 0.5  # tied with claude on relu, no correct softmax
    assert gpt.mean_speedup == pytest.approx(4.0)  # best per solved problem
    assert (gpt.tokens_in, gpt.tokens_out, gpt.cost_usd) == (300, 150, pytest.approx(0.03))
    assert claude.correct_share == 1.0 and claude.best_share == 1.0
    assert claude.mean_speedup == pytest.approx(2.0)  # geometric mean of 4 and 1
    assert claude.by_arms == []  # one arm combination: nothing to compare
    arms = {a.arms: a for a in gpt.by_arms}
    assert set(arms) == {"none", "feedback"}
    assert arms["feedback"].mean_speedup == pytest.approx(4.0) and arms["feedback"].correct_share == 1.0
    assert arms["none"].candidates == 2 and arms["none"].correct_share == 0.5
    assert [m.agent for m in model_summary(rows)] == ["claude", "gpt"]


def test_arms_label_accepts_context_dicts():
    assert arms_label({"feedback": True, "profile": False, "other_backend": True, "language": "cpp"}) == "feedback+other_backend"
    assert arms_label(()) == "none"


def test_nothing_solved():
    (m,) = model_summary([CandidateRow("x", "p", "", None)])
    assert m.mean_speedup is None and m.correct_share == 0.0 and m.best_share == 0.0
