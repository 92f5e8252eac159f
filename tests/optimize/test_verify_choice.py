"""The whole model's choice (issue 13 in optimize): every figure comes from a paired window, and an
assembled model replaces the faster baseline only when its interval's low end clears 1 + min_gain."""

from __future__ import annotations

import random

from kernelswarm.optimize.verify import EndToEnd, Figure, baseline_figures, choose
from kernelswarm.records import SpeedDecision, Timing


def _paired(n: int, base_ms: float, ratio: float, noise: float, seed: int) -> tuple[Timing, Timing]:
    """Two implementations' samples timed side by side: a shared load factor per pair, own jitter."""
    rng = random.Random(seed)
    a, b = [], []
    for _ in range(n):
        load = 1.0 + rng.expovariate(3.0)  # the machine's load falls on both calls of a pair
        a.append(base_ms * load * (1 + rng.gauss(0, noise)))
        b.append(base_ms / ratio * load * (1 + rng.gauss(0, noise)))
    return Timing.from_samples(a), Timing.from_samples(b)


def _e2e(eager_ms: float = 10.0, compile_ms: float | None = None, **figures: Figure) -> EndToEnd:
    e2e = EndToEnd("eager", eager_ms, compile_ms)
    e2e.figures["eager"] = Figure(eager_ms, 1.0, (1.0, 1.0))
    e2e.figures.update({k.replace("_", "(", 1) + (")" if "_" in k else ""): v for k, v in figures.items()})
    return e2e


def test_baseline_figures_come_from_the_alternating_pair():
    eager, compiled = _paired(200, 10.0, 1.25, 0.02, seed=1)
    f = baseline_figures(eager, compiled)
    lo, hi = f["compile"].vs_eager_ci
    assert lo <= f["compile"].vs_eager <= hi and 1.15 < lo and hi < 1.35
    assert f["eager"].vs_compile_ci[1] < 1.0  # eager against torch.compile: slower, surely
    assert baseline_figures(eager, None) == {"eager": Figure(eager.median_ms, 1.0, (1.0, 1.0))}


def test_assembled_kept_only_when_its_low_end_clears_the_bar():
    won = choose(_e2e(assembled=Figure(8.0, 1.25, (1.10, 1.40))))
    assert won.choice == "assembled" and won.decision is SpeedDecision.FASTER
    assert won.speedup_vs_eager == 1.25 and won.speedup_ci == (1.10, 1.40)
    assert "clears 1.02x" in won.reason

    close = choose(_e2e(assembled=Figure(9.9, 1.01, (0.99, 1.04))))  # faster by its median, not surely
    assert close.choice == "eager" and close.decision is SpeedDecision.NOT_FASTER
    assert close.speedup_vs_eager == 1.0 and "does not clear 1.02x" in close.reason

    noisy = choose(_e2e(assembled=Figure(7.0, 1.4, (0.8, 1.9))))
    assert noisy.choice == "eager" and noisy.decision is SpeedDecision.UNDECIDED
    assert "too noisy" in noisy.reason


def test_the_faster_baseline_is_the_bar():
    """Faster than eager surely, but not than torch.compile: torch.compile stands, and the
    headline is never below the faster of the two."""
    e2e = _e2e(10.0, 8.0, assembled=Figure(7.9, 1.27, (1.2, 1.33), 1.01, (0.97, 1.05)))
    e2e.figures["compile"] = Figure(8.0, 1.25, (1.2, 1.3), 1.0, (1.0, 1.0))
    out = choose(e2e)
    assert out.choice == "compile" and out.speedup_vs_eager == 1.25 and out.speedup_vs_compile == 1.0


def test_of_two_that_clear_the_faster_one_wins_from_its_own_window():
    e2e = _e2e(assembled=Figure(8.0, 1.25, (1.1, 1.4)), compile_assembled=Figure(6.0, 1.6, (1.4, 1.8)))
    out = choose(e2e)
    assert out.choice == "compile(assembled)"
    # its speedup is its own window's (eager timed beside it), never eager's median from another window
    assert out.speedup_vs_eager == 1.6 and out.speedup_ci == (1.4, 1.8)


def test_nothing_judged_keeps_the_faster_baseline():
    out = choose(_e2e(10.0, 12.0))
    assert out.choice == "eager" and out.decision is None and "nothing was assembled" in out.reason
