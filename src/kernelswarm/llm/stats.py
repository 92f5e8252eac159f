"""Per-model figures for the run summary and the report: correct share, best-on-problem share,
mean speedup, tokens and cost, and the speedup per context arm when arms differ.

Pure functions over typed rows, so the supervisor, the store and the report compute the same
numbers from whatever they hold.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CandidateRow:
    """One evaluated candidate, as the summary needs it."""

    agent: str  # agent name (a model's name for LLM agents)
    problem: str  # problem name
    verdict: str  # Verdict value; "" when the agent produced no code
    speedup: float | None = None  # eager reference / candidate time, when accepted
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    arms: tuple[str, ...] = ()  # names of the context arms shown, e.g. ("feedback", "profile")


@dataclass(frozen=True)
class ArmStats:
    """How one agent did with one combination of context arms."""

    arms: str  # "+"-joined arm names, "none" when no arm was shown
    candidates: int
    correct_share: float  # accepted candidates / candidates
    mean_speedup: float | None  # geometric mean over accepted candidates; None when none


@dataclass(frozen=True)
class ModelStats:
    """One agent's figures over a run (or any set of rows)."""

    agent: str
    candidates: int  # candidates proposed, including replies without usable code
    problems: int  # problems it proposed for
    correct_share: float  # problems with at least one accepted candidate / problems
    best_share: float  # problems where its best speedup was the best of all agents / problems
    mean_speedup: float | None  # geometric mean over solved problems of its best speedup
    tokens_in: int
    tokens_out: int
    cost_usd: float
    by_arms: list[ArmStats] = field(default_factory=list)  # set only when its arms differ


def arms_label(arms: tuple[str, ...] | dict[str, bool]) -> str:
    """A stable name for a set of arms; accepts Context.arms() dicts too."""
    # Only boolean entries are arms: a candidate's context dict also holds e.g. its language.
    names = sorted(k for k, v in arms.items() if v is True) if isinstance(arms, dict) else sorted(arms)
    return "+".join(names) or "none"


def geomean(values: list[float]) -> float | None:
    positive = [v for v in values if v > 0]
    return math.exp(sum(math.log(v) for v in positive) / len(positive)) if positive else None


def model_summary(rows: list[CandidateRow]) -> list[ModelStats]:
    """Figures per agent, sorted by best share then mean speedup (best first)."""
    best_of_problem: dict[str, float] = {}
    for r in rows:
        if r.verdict == "accepted" and r.speedup is not None:
            best_of_problem[r.problem] = max(best_of_problem.get(r.problem, 0.0), r.speedup)

    by_agent: dict[str, list[CandidateRow]] = defaultdict(list)
    for r in rows:
        by_agent[r.agent].append(r)

    out: list[ModelStats] = []
    for agent, mine in by_agent.items():
        problems = sorted({r.problem for r in mine})
        best: dict[str, float] = {}
        for r in mine:
            if r.verdict == "accepted" and r.speedup is not None:
                best[r.problem] = max(best.get(r.problem, 0.0), r.speedup)
        # Ties count for every tied agent: two agents that find the same kernel both found it.
        wins = sum(1 for p, s in best.items() if math.isclose(s, best_of_problem[p], rel_tol=1e-9))
        labels = {arms_label(r.arms) for r in mine}
        out.append(
            ModelStats(
                agent=agent,
                candidates=len(mine),
                problems=len(problems),
                correct_share=len(best) / len(problems),
                best_share=wins / len(problems),
                mean_speedup=geomean(list(best.values())),
                tokens_in=sum(r.tokens_in for r in mine),
                tokens_out=sum(r.tokens_out for r in mine),
                cost_usd=sum(r.cost_usd for r in mine),
                by_arms=_by_arms(mine) if len(labels) > 1 else [],
            )
        )
    out.sort(key=lambda m: (-m.best_share, -(m.mean_speedup or 0.0), m.agent))
    return out


def _by_arms(rows: list[CandidateRow]) -> list[ArmStats]:
    groups: dict[str, list[CandidateRow]] = defaultdict(list)
    for r in rows:
        groups[arms_label(r.arms)].append(r)
    stats = []
    for label, group in sorted(groups.items()):
        speedups = [r.speedup for r in group if r.verdict == "accepted" and r.speedup is not None]
        stats.append(ArmStats(label, len(group), len(speedups) / len(group), geomean(speedups)))
    return stats


def rows_from_store(store: Any, run_id: int) -> list[CandidateRow]:
    """CandidateRows for one stored run (a kernelswarm.store.Store): each candidate with the
    tokens and cost of the model calls behind it. A failed request that left no candidate still
    cost something, so it becomes a row without a verdict."""
    tokens: dict[int, list[float]] = defaultdict(lambda: [0, 0, 0.0])
    rows: list[CandidateRow] = []
    for call in store.model_calls(run_id):
        if call.candidate_id is None:
            rows.append(CandidateRow(call.agent, call.problem, "", None, call.tokens_in, call.tokens_out, call.cost_usd))
        else:
            t = tokens[call.candidate_id]
            t[0], t[1], t[2] = t[0] + call.tokens_in, t[1] + call.tokens_out, t[2] + call.cost_usd
    for c in store.candidates(run_id):
        accepted = c.verdict == "accepted" and c.candidate_ms and c.reference_ms
        speedup = c.reference_ms / c.candidate_ms if accepted else None
        tin, tout, cost = tokens.get(c.id, (0, 0, 0.0))
        arms = tuple(k for k, v in (c.context or {}).items() if v is True)
        rows.append(CandidateRow(c.agent, c.problem, c.verdict or "", speedup, int(tin), int(tout), float(cost), arms))
    return rows


def run_model_summary(store: Any, run_id: int) -> list[ModelStats]:
    """model_summary over one stored run: what the run summary and the report show per model."""
    return model_summary(rows_from_store(store, run_id))
