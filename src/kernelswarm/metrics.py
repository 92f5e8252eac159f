"""Suite metrics as the field reports them (DESIGN.md, Metrics). Pure functions, no I/O.

A problem's result is what kernelswarm delivers for it: its best accepted candidate when that
beats the faster of eager and torch.compile, otherwise that baseline. Speedups are of the result,
so they are never below 1.0 against the faster baseline.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Iterable, Sequence

FAST_P = (1.0, 1.2, 1.5, 2.0)
BASELINE = "baseline"  # the agent name credited when no candidate beat the faster baseline

# What became of a problem in a run: won by a candidate, its faster baseline stands, its
# baselines failed (nothing could be timed), or never measured (the run stopped before it).
WIN, BASELINE_STANDS, BASELINES_FAILED, NOT_MEASURED = "win", "baseline stands", "baselines failed", "not measured"
OUTCOMES = (WIN, BASELINE_STANDS, BASELINES_FAILED, NOT_MEASURED)


def outcome(eager_ms: float | None, baseline_error: str | None, won: bool) -> str:
    if won:
        return WIN
    if eager_ms is not None:
        return BASELINE_STANDS
    return BASELINES_FAILED if baseline_error else NOT_MEASURED


def outcome_line(outcomes: Sequence[tuple[str, str | None]]) -> str:
    """One line counting (outcome, standing baseline) pairs, e.g. '2 won by a candidate, 3 baseline
    stands (eager 1, torch.compile 2), 0 baselines failed, 1 not measured'."""
    counts = {o: sum(1 for x, _ in outcomes if x == o) for o in OUTCOMES}
    stands = [b for o, b in outcomes if o == BASELINE_STANDS]
    which = ", ".join(f"{label} {n}" for label, n in (("eager", stands.count("eager")),
                                                      ("torch.compile", stands.count("compile"))) if n)
    return (f"{counts[WIN]} won by a candidate, {counts[BASELINE_STANDS]} baseline stands"
            + (f" ({which})" if which else "")
            + f", {counts[BASELINES_FAILED]} baselines failed, {counts[NOT_MEASURED]} not measured")


@dataclass(frozen=True)
class ProblemScore:
    """One problem's outcome, reduced to what the metrics need."""

    problem: str
    level: int | None
    correct: bool  # at least one candidate was accepted
    speedup_vs_eager: float | None  # eager time / result time; None when nothing could be timed
    speedup_vs_best: float | None  # faster baseline's time / result time
    best_agent: str | None  # agent whose candidate is the result; None when a baseline stands
    flagged: bool = False  # screening found the problem unfair (a no-op could pass): kept out of the headline
    measured: bool = True  # False: never measured (the run stopped before it): no failure, kept out of the figures


@dataclass(frozen=True)
class Summary:
    """Metrics of a set of problems (a level, or all of them)."""

    label: str  # "level 1", "no level", or "all"
    level: int | None  # None for all levels together, or for problems without a level
    n: int  # problems counted in the figures below (flagged and never measured problems are not)
    geomean_vs_eager: float | None
    median_vs_eager: float | None
    mean_vs_eager: float | None
    geomean_vs_best: float | None  # against the faster of eager and torch.compile
    median_vs_best: float | None
    mean_vs_best: float | None
    fast_p_vs_eager: dict[float, float] = field(default_factory=dict)  # p -> share of problems
    fast_p_vs_best: dict[float, float] = field(default_factory=dict)
    correct_share: float = 0.0  # share of problems with an accepted candidate
    best_agent_share: dict[str, float] = field(default_factory=dict)  # agent (or "baseline") -> share
    n_flagged: int = 0  # problems the screen flagged, counted apart from every figure above
    flagged_geomean_vs_eager: float | None = None  # their own geometric means, shown apart
    flagged_geomean_vs_best: float | None = None
    n_unmeasured: int = 0  # problems never measured (a stopped run), counted apart: neither failed nor solved


def geomean(xs: Iterable[float]) -> float | None:
    xs = [x for x in xs if x is not None and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def median(xs: Iterable[float]) -> float | None:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def mean(xs: Iterable[float]) -> float | None:
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def fast_p(scores: Sequence[ProblemScore], p: float, vs_best: bool = False) -> float:
    """Share of all problems whose result is correct and more than p times faster.

    A problem with no accepted candidate counts as not fast: its baseline is not an achievement.
    """
    if not scores:
        return 0.0
    hits = 0
    for s in scores:
        x = s.speedup_vs_best if vs_best else s.speedup_vs_eager
        hits += bool(s.correct and x is not None and x > p)
    return hits / len(scores)


def correct_share(scores: Sequence[ProblemScore]) -> float:
    return sum(s.correct for s in scores) / len(scores) if scores else 0.0


def best_agent_share(scores: Sequence[ProblemScore]) -> dict[str, float]:
    """Each agent's share of problems on which its candidate was the result."""
    if not scores:
        return {}
    counts: dict[str, int] = {}
    for s in scores:
        key = s.best_agent or BASELINE
        counts[key] = counts.get(key, 0) + 1
    return {k: v / len(scores) for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))}


def summarize(scores: Sequence[ProblemScore], level: int | None = None, label: str = "all") -> Summary:
    """Figures over the problems the screen found fair; flagged ones are counted apart, since a
    speedup on a problem a no-op passes does not show a faster kernel. Problems never measured (the
    run stopped before them) are counted apart too: they are not failures, and a stopped run's
    shares are of what it measured."""
    unmeasured = [s for s in scores if not s.measured]
    flagged = [s for s in scores if s.flagged and s.measured]
    scores = [s for s in scores if not s.flagged and s.measured]
    eager = [s.speedup_vs_eager for s in scores if s.speedup_vs_eager is not None]
    best = [s.speedup_vs_best for s in scores if s.speedup_vs_best is not None]
    return Summary(
        label=label, level=level, n=len(scores),
        geomean_vs_eager=geomean(eager), median_vs_eager=median(eager), mean_vs_eager=mean(eager),
        geomean_vs_best=geomean(best), median_vs_best=median(best), mean_vs_best=mean(best),
        fast_p_vs_eager={p: fast_p(scores, p) for p in FAST_P},
        fast_p_vs_best={p: fast_p(scores, p, vs_best=True) for p in FAST_P},
        correct_share=correct_share(scores),
        best_agent_share=best_agent_share(scores),
        n_flagged=len(flagged),
        flagged_geomean_vs_eager=geomean(s.speedup_vs_eager for s in flagged if s.speedup_vs_eager is not None),
        flagged_geomean_vs_best=geomean(s.speedup_vs_best for s in flagged if s.speedup_vs_best is not None),
        n_unmeasured=len(unmeasured),
    )


def summarize_by_level(scores: Sequence[ProblemScore]) -> list[Summary]:
    """One summary per level (in level order, unknown level last), then one for all problems
    when there is more than one level."""
    levels = sorted({s.level for s in scores}, key=lambda lv: (lv is None, lv or 0))
    out = [summarize([s for s in scores if s.level == lv], lv, f"level {lv}" if lv is not None else "no level")
           for lv in levels]
    if len(levels) > 1:
        out.append(summarize(scores, None, "all"))
    return out
