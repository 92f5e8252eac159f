"""What a report shows, as typed records: built from the store, or by hand in tests.

`report_data_from_store` reads a run (read-only) through kernelswarm.store's query functions;
the aggregates (per level, per agent, per context arm) are computed here from the per-problem and
per-attempt records, using kernelswarm.metrics, so that synthetic data renders exactly like a run.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kernelswarm import metrics
from kernelswarm.metrics import ProblemScore, Summary
from kernelswarm.records import Selection, lock_wait_text


@dataclass(frozen=True)
class Attempt:
    """One candidate for a problem and the evaluator's verdict on it."""

    id: int
    agent: str
    round: int
    language: str
    arm: str  # context arms shown to the agent, e.g. "feedback+profile", or "none"
    verdict: str | None  # None when never evaluated (the agent produced no code)
    reason: str  # the evaluator's one-line reason (or the agent's note when there is no verdict)
    kind: str | None = None  # custom-kernel | pytorch-rewrite, when accepted
    candidate_ms: float | None = None
    speedup_vs_eager: float | None = None  # eager time / this candidate's time, when accepted
    timed_on: str = ""  # machine and GPU that timed it, in a run spread over several ("" otherwise)
    log: str = ""  # the tail of what the candidate's process printed (why its own extension never ran)
    speedup_ci: tuple[float, float] | None = None  # interval of speedup_vs_eager from the paired samples
    # A rejection that load on the machine could have caused (a timing bound, not a wrong output):
    # told apart from a candidate caught lying, and never reused for an identical proposal.
    noise_sensitive: bool = False
    has_code: bool = True  # False when the agent produced no code; with no verdict otherwise, it was never judged
    lock_wait: str = ""  # records.lock_wait_text when it waited for another process's hold on the device

    @property
    def caught_lying(self) -> bool:
        """Rejected by a check that no load explains."""
        return self.verdict == "rejected" and not self.noise_sensitive

    @property
    def rejected_for_noise(self) -> bool:
        return self.verdict == "rejected" and self.noise_sensitive


@dataclass(frozen=True)
class ProblemReport:
    """One problem: its baselines, what kernelswarm delivers for it, and every attempt."""

    name: str
    level: int | None
    eager_ms: float | None
    compile_ms: float | None
    result_ms: float | None  # best candidate when it beats the faster baseline, else that baseline
    speedup_vs_eager: float | None
    speedup_vs_best: float | None  # against the faster of eager and torch.compile
    correct: bool  # at least one candidate was accepted
    best_agent: str | None = None  # None when a baseline stands
    best_kind: str | None = None
    best_language: str | None = None
    best_source: str | None = None
    sol_ms: float | None = None  # speed-of-light time, when the evaluator recorded it
    baseline_error: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)  # the screen's findings; flagged problems stay out of the headline
    selection: Selection | None = None  # why the result is what it is (store.select); None in data built by hand
    why: str = ""  # the same in words, with the interval and the margin (ProblemResult.reason)
    # The interval against the faster baseline the selection rests on: the winner's, else the
    # fastest accepted candidate's (which did not clear the margin); None when nothing was accepted.
    interval: tuple[float, float] | None = None

    @property
    def speedup_ci(self) -> tuple[float, float] | None:
        """The interval of speedup_vs_best when a candidate won (store.ProblemResult.speedup_ci);
        None when a baseline stands (its speedup is 1 by definition)."""
        return self.interval if self.best_agent else None

    @property
    def lies(self) -> int:
        """Attempts rejected by a check that no load explains."""
        return sum(a.caught_lying for a in self.attempts)

    @property
    def noise_rejections(self) -> int:
        """Attempts rejected by a check that load on the machine could have tripped."""
        return sum(a.rejected_for_noise for a in self.attempts)

    @property
    def best_baseline(self) -> str | None:
        """'eager' or 'compile': the faster baseline, which stands when no candidate beat it."""
        if self.eager_ms is None:
            return None
        return "compile" if self.compile_ms is not None and self.compile_ms < self.eager_ms else "eager"

    @property
    def outcome(self) -> str:
        return metrics.outcome(self.eager_ms, self.baseline_error, self.best_agent is not None)

    @property
    def result_from(self) -> str:
        """Who the result comes from: the winning agent, else which baseline stands, else why none."""
        if self.best_agent:
            return self.best_agent
        if self.best_baseline:
            return f"baseline stands ({'torch.compile' if self.best_baseline == 'compile' else 'eager'})"
        return self.outcome

    @property
    def fraction_of_sol(self) -> float | None:
        return self.sol_ms / self.result_ms if self.sol_ms and self.result_ms else None

    def score(self) -> ProblemScore:
        return ProblemScore(self.name, self.level, self.correct, self.speedup_vs_eager, self.speedup_vs_best,
                            self.best_agent, flagged=bool(self.flags), measured=self.outcome != metrics.NOT_MEASURED)


@dataclass(frozen=True)
class AgentRow:
    """One agent over the whole run."""

    agent: str
    attempts: int  # candidates proposed
    evaluated: int  # candidates that reached a verdict
    accepted: int
    best_share: float  # share of all problems on which its candidate is the result (it beat the baseline)
    geomean_speedup: float | None  # geometric mean, over fair problems it solved, of its best speedup against eager
    lies: int = 0  # candidates rejected by a check no load explains
    noise_rejections: int = 0  # candidates rejected by a check the machine's load could have tripped
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0

    @property
    def correct_share(self) -> float:
        return self.accepted / self.evaluated if self.evaluated else 0.0


@dataclass(frozen=True)
class ArmRow:
    """One context arm: what its candidates achieved."""

    arm: str
    attempts: int
    accepted: int
    problems: int  # problems with at least one candidate in this arm
    solved: int  # problems with an accepted candidate in this arm
    geomean_speedup: float | None  # over solved fair problems, of the arm's best speedup against eager

    @property
    def correct_share(self) -> float:
        return self.accepted / self.attempts if self.attempts else 0.0


@dataclass
class ReportData:
    """Everything one report shows."""

    title: str
    device: str
    versions: dict[str, str]  # device_name, driver, torch, triton, cuda, python: captions every figure
    problems: list[ProblemReport]
    run_id: int | None = None
    status: str = ""  # finished | running | stopped (...): RunInfo.shown_status
    started_at: str = ""
    finished_at: str | None = None
    costs: dict[str, tuple[int, int, float]] = field(default_factory=dict)  # agent -> tokens in, out, USD
    timing: tuple[int, float] = (0, 0.0)  # candidates' evaluations, and seconds in their timing phases
    lock_waits: tuple[int, float] = (0, 0.0)  # evaluations that waited for another process's device hold, seconds
    generated_at: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))

    def levels(self) -> list[Summary]:
        return metrics.summarize_by_level([p.score() for p in self.problems])

    def overall(self) -> Summary:
        return metrics.summarize([p.score() for p in self.problems])

    def device_line(self) -> str:
        """The share of the run's wall time the device spent timing candidates (issue 16)."""
        n, timing_s = self.timing
        wall = _wall_s(self.started_at, self.finished_at)
        waited, wait_s = self.lock_waits
        others = (f"; {waited} of them waited {wait_s:.0f} s in all for another kernelswarm process to "
                  "finish with the device") if waited else ""
        if not n or not wall:
            return f"{n} candidate evaluations{others}"
        return (f"{n} candidate evaluations, {60 * n / wall:.1f} per minute; the device timed candidates "
                f"{timing_s:.0f} s of the run's {wall:.0f} s wall ({timing_s / wall:.0%}){others}")

    def places_line(self) -> str:
        """Where the evaluations were timed, in a run spread over GPUs or nodes or made of shards
        ('node1 cuda:0: 12, node2 cuda:0: 9'); '' when none says."""
        counts: dict[str, int] = {}
        for p in self.problems:
            for a in p.attempts:
                if a.timed_on and a.verdict is not None:
                    counts[a.timed_on] = counts.get(a.timed_on, 0) + 1
        return ", ".join(f"{where}: {n}" for where, n in sorted(counts.items()))

    def outcome_line(self) -> str:
        return metrics.outcome_line([(p.outcome, p.best_baseline) for p in self.problems])

    def rejections_line(self) -> str:
        """Rejections, those of a check no load explains apart from those load could have caused."""
        lies = sum(p.lies for p in self.problems)
        noise = sum(p.noise_rejections for p in self.problems)
        return (f"{lies + noise} rejected: {lies} by a check no load explains (caught lying), {noise} "
                "noise-sensitive (a timing bound the machine's load could have tripped; judged again if proposed again)")

    def agents(self) -> list[AgentRow]:
        names = sorted({a.agent for p in self.problems for a in p.attempts} | set(self.costs))
        n = len(self.problems) or 1
        rows = []
        for name in names:
            mine = [a for p in self.problems for a in p.attempts if a.agent == name]
            # Over the problems the screen found fair, as the level figures are: a speedup on a
            # problem a no-op passes does not show a faster kernel.
            best_per_problem = [max((a.speedup_vs_eager for a in p.attempts if a.agent == name and a.speedup_vs_eager),
                                    default=None) for p in self.problems if not p.flags]
            tin, tout, cost = self.costs.get(name, (0, 0, 0.0))
            rows.append(AgentRow(
                agent=name, attempts=len(mine), evaluated=sum(a.verdict is not None for a in mine),
                accepted=sum(a.verdict == "accepted" for a in mine),
                best_share=sum(p.best_agent == name for p in self.problems) / n,
                geomean_speedup=metrics.geomean(x for x in best_per_problem if x is not None),
                lies=sum(a.caught_lying for a in mine), noise_rejections=sum(a.rejected_for_noise for a in mine),
                tokens_in=tin, tokens_out=tout, cost_usd=cost,
            ))
        return rows

    def arms(self) -> list[ArmRow]:
        labels = sorted({a.arm for p in self.problems for a in p.attempts})
        rows = []
        for arm in labels:
            per_problem = [[a for a in p.attempts if a.arm == arm] for p in self.problems]
            fair = [not p.flags for p, xs in zip(self.problems, per_problem) if xs]  # as agents(): flagged apart
            per_problem = [xs for xs in per_problem if xs]
            best = [max((a.speedup_vs_eager for a in xs if a.speedup_vs_eager), default=None) for xs in per_problem]
            rows.append(ArmRow(
                arm=arm, attempts=sum(len(xs) for xs in per_problem),
                accepted=sum(a.verdict == "accepted" for xs in per_problem for a in xs),
                problems=len(per_problem), solved=sum(b is not None for b in best),
                geomean_speedup=metrics.geomean(b for b, ok in zip(best, fair) if b is not None and ok),
            ))
        return rows


def arm_label(context: dict[str, Any]) -> str:
    """The context arms an agent was shown, as one label ('none' when none was)."""
    if isinstance(context.get("arm"), str):
        return context["arm"]
    on = sorted(k for k, v in context.items() if v is True)
    return "+".join(on) if on else "none"


def _sol_ms(ev: Any) -> float | None:
    """The speed-of-light time the evaluator used: its own field when the record has one, else
    recovered from the speed-of-light check, which states the floor (sol.MARGIN x the time)."""
    if ev is None:
        return None
    if getattr(ev, "sol_ms", None):
        return float(ev.sol_ms)
    for check in ev.checks:
        m = re.search(r"floor ([0-9.]+(?:e[-+]?[0-9]+)?) ms", check.detail) if check.name == "speed-of-light" else None
        if m:
            from kernelswarm.sol import (
                MARGIN,  # imports torch: only when a floor is there to convert
            )

            return float(m.group(1)) / MARGIN
    return None


def report_data_from_store(db_path: str | Path, run_id: int | None = None) -> ReportData:
    """Read one run (the latest when run_id is None) from a store, read-only.

    Raises FileNotFoundError for a missing store and KeyError for an unknown or absent run.
    """
    from kernelswarm.store import Store

    store = Store(db_path, read_only=True)
    try:
        if run_id is None:
            run_id = store.latest_run_id()
            if run_id is None:
                raise KeyError(f"{db_path} holds no runs")
        run = store.run(run_id)
        logs = store.log_tails(run_id)
        by_problem: dict[str, list] = {}
        for c in store.candidates(run_id):
            by_problem.setdefault(c.problem, []).append(c)
        problems = []
        for r in store.problem_results(run_id):
            sol = _sol_ms(store.evaluation(r.best.id)) if r.best is not None else None
            attempts = [
                Attempt(
                    id=c.id, agent=c.agent, round=c.round, language=c.language, arm=arm_label(c.context),
                    verdict=c.verdict, reason=c.reason if c.verdict is not None else c.note, kind=c.kind,
                    candidate_ms=c.candidate_ms, timed_on=c.timed_on,
                    speedup_vs_eager=c.speedup,  # from the evaluation's own paired window
                    log=logs.get(c.id, ""), speedup_ci=c.speedup_ci if c.speedup is not None else None,
                    noise_sensitive=c.noise_sensitive, has_code=bool(c.source.strip()),
                    lock_wait=lock_wait_text(c.lock_wait_s, c.lock_holder) if c.lock_holder else "",
                )
                for c in by_problem.get(r.name, [])
            ]
            problems.append(ProblemReport(
                name=r.name, level=r.level, eager_ms=r.eager_ms, compile_ms=r.compile_ms, result_ms=r.result_ms,
                speedup_vs_eager=r.speedup_vs_eager, speedup_vs_best=r.speedup_vs_best_baseline,
                correct=r.n_accepted > 0, best_agent=r.result_agent,
                best_kind=r.best.kind if r.best else None, best_language=r.best.language if r.best else None,
                best_source=r.best.source if r.best else None, sol_ms=sol, baseline_error=r.baseline_error,
                attempts=attempts, flags=list(r.flags), selection=r.selection, why=r.reason,
                interval=_interval(r),
            ))
        costs = {c.agent: (c.tokens_in, c.tokens_out, c.cost_usd) for c in store.agent_costs(run_id)}
        timing, waits = store.timing_seconds(run_id), store.lock_waits(run_id)
    finally:
        store.close()
    return ReportData(
        title=f"kernelswarm run {run_id}", device=run.device, versions=dict(run.versions), problems=problems,
        run_id=run_id, status=run.shown_status, started_at=run.started_at, finished_at=run.finished_at, costs=costs,
        timing=timing, lock_waits=waits,
    )


def _wall_s(started_at: str, finished_at: str | None) -> float | None:
    """Seconds from a run's start to its end (None while it runs, or for an unreadable time)."""
    try:
        return (_dt.datetime.fromisoformat(finished_at) - _dt.datetime.fromisoformat(started_at)).total_seconds()
    except (TypeError, ValueError):
        return None


def _interval(r: Any) -> tuple[float, float] | None:
    """store.ProblemResult's interval against the faster baseline that its selection rests on."""
    from kernelswarm.store import interval_vs_best

    shown = r.best or r.fastest_accepted
    return interval_vs_best(shown, r.compile_ms) if shown is not None else None


def to_dict(data: ReportData) -> dict[str, Any]:
    """The report's figures and tables as plain JSON-ready data, for other tools."""
    d = dataclasses.asdict(data)
    for p, raw in zip(data.problems, d["problems"]):
        raw["fraction_of_sol"] = p.fraction_of_sol
        raw["outcome"], raw["best_baseline"] = p.outcome, p.best_baseline
        raw["selection"] = p.selection.value if p.selection else None
        raw["speedup_ci"] = list(p.speedup_ci) if p.speedup_ci else None
        raw["lies"], raw["noise_rejections"] = p.lies, p.noise_rejections
        for a, attempt in zip(p.attempts, raw["attempts"]):
            attempt["caught_lying"], attempt["rejected_for_noise"] = a.caught_lying, a.rejected_for_noise
    d["levels"] = [dataclasses.asdict(s) for s in data.levels()]
    d["overall"] = dataclasses.asdict(data.overall())
    d["agents"] = [{**dataclasses.asdict(a), "correct_share": a.correct_share} for a in data.agents()]
    d["arms"] = [{**dataclasses.asdict(a), "correct_share": a.correct_share} for a in data.arms()]
    d["costs"] = {k: {"tokens_in": v[0], "tokens_out": v[1], "cost_usd": v[2]} for k, v in data.costs.items()}
    return d


def to_json(data: ReportData) -> str:
    return json.dumps(to_dict(data), indent=2, default=str)
