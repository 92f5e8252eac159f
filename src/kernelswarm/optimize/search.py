"""The swarm on a model's tasks: one supervisor run over the task problems, hottest first, with
rounds and model budget given to each task in proportion to its share of the model's time; a
task under `min_share` of the time gets no model (LLM) call.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from kernelswarm.agents.base import Agent, Context
from kernelswarm.optimize.tasks import Task
from kernelswarm.problems.load import Problem
from kernelswarm.records import Candidate

MIN_SHARE = 0.01  # tasks under this share of the model's time get no LLM call by default


@dataclass(frozen=True)
class Allowance:
    """What one task may spend: rounds, and (billable agents) USD."""

    rounds: int
    budget_usd: float | None
    llm: bool


def allowances(tasks: list[Task], rounds: int, budget: float | None, min_share: float = MIN_SHARE) -> dict[str, Allowance]:
    """Rounds and budget per task, in proportion to its share (the hottest task gets `rounds`)."""
    hot = [t for t in tasks if t.share >= min_share]
    top = max((t.share for t in hot), default=0.0)
    total = sum(t.share for t in hot)
    out = {}
    for t in tasks:
        llm = t.share >= min_share
        r = max(1, round(rounds * t.share / top)) if llm and top > 0 else 1
        b = budget * t.share / total if budget is not None and llm and total > 0 else (0.0 if budget is not None else None)
        out[t.name] = Allowance(min(rounds, r), b, llm)
    return out


class TaskGate:
    """An agent seen through a task's allowance: a billable (model) agent proposes nothing for a
    task under the share threshold, past the task's rounds, or once the task's budget is spent."""

    def __init__(self, agent: Agent, allow: dict[str, Allowance]) -> None:
        self.agent = agent
        self.name = agent.name
        self.billable = getattr(agent, "billable", True)
        self.allow = allow
        self.spent: dict[str, float] = {}
        if hasattr(agent, "variant"):
            self.variant = agent.variant

    def propose(self, problem: Problem, context: Context) -> list[Candidate]:
        a = self.allow.get(problem.name)
        if a is not None and self.billable:
            if not a.llm or context.round >= a.rounds:
                return []
            if a.budget_usd is not None and self.spent.get(problem.name, 0.0) >= a.budget_usd:
                return []
        out = list(self.agent.propose(problem, context))
        cost = sum(c.cost_usd or 0.0 for cand in out for c in cand.calls)
        self.spent[problem.name] = self.spent.get(problem.name, 0.0) + cost
        return out


def write_tasks(tasks: list[Task], folder: Path) -> list[Problem]:
    """Each task as folder/<name>.py, loaded back as a Problem."""
    from kernelswarm.problems.load import load_problem

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for t in tasks:
        path = folder / f"{t.name}.py"
        path.write_text(t.source)
        out.append(load_problem(path))
    return out


def _offered(problem: Problem, agents: list[Agent]) -> bool:
    """Whether any agent could propose for `problem`. Folder agents only propose DIR/<task>.py:
    with nothing else asked, a task without its file would only have its baselines timed."""
    from kernelswarm.agents.folder import FolderAgent

    return any(not isinstance(a, FolderAgent) or (a.directory / f"{problem.name}.py").is_file() for a in agents)


def searched(problems: list[Problem], tasks: list[Task], agents: list[Agent], search_below: float = 0.0,
             search_top: int | None = None) -> list[Problem]:
    """The task problems the search takes, hottest first: at least `search_below` of the model's
    time, offered by some agent, and only the `search_top` hottest of those (None: all)."""
    shares = {t.name: t.share for t in tasks}
    kept = [p for p in problems if shares.get(p.name, 1.0) >= search_below and _offered(p, agents)]
    if search_top is None:
        return kept
    return sorted(kept, key=lambda p: -shares.get(p.name, 1.0))[:search_top]


def run_tasks(problems: list[Problem], tasks: list[Task], store, config, agents: list[Agent],
              on_event: Callable | None = None, resume: bool = False, min_share: float = MIN_SHARE,
              should_stop: Callable[[], bool] | None = None, search_below: float = 0.0,
              deadline: float | None = None, search_top: int | None = None) -> int:
    """One supervisor run over the tasks (hottest first); returns its run id. Tasks under
    `search_below` of the model's time are left out (their baselines and candidates could not pay
    for their evaluations), and past the `search_top` hottest of those left; `should_stop` is asked
    before each task (Supervisor.run). `deadline` (a time.monotonic() instant): no evaluation runs
    past it (Supervisor.deadline; this host only)."""
    from kernelswarm.supervisor import Supervisor

    problems = searched(problems, tasks, agents, search_below, search_top)
    allow = allowances(tasks, config.rounds, config.budget_usd, min_share)
    gated = [TaskGate(a, allow) for a in agents]
    sup = Supervisor(store, config, gated, on_event=on_event)
    sup.deadline = deadline
    run_id = store.resumable_run_id() if resume else None
    if run_id is not None:
        known = {r["hash"] for r in store.problem_rows(run_id)}
        if known != {p.hash for p in problems}:
            run_id = None  # the stored run is of another model or other tasks: start anew
    if not (config.devices or config.ray):
        return sup.run(problems, run_id, should_stop=should_stop)
    from kernelswarm.runconfig import Event
    from kernelswarm.scale.placement import place, run_placed

    note = (lambda m: on_event(Event("note", "", message=m))) if on_event else None
    with place(config, note) as slots:
        return run_placed(store, config, gated, slots, problems, run_id, on_event=on_event, should_stop=should_stop)


def check_folder(path: str | Path, what: str) -> None:
    """A folder to write (--out, --tasks-out) that cannot be one: refused before any work, not
    after the search (a file in its place, or under a file)."""
    p = Path(path)
    for q in (p, *p.parents):
        if q.exists():
            if not q.is_dir():
                raise ValueError(f"{what} {path}: {q} is a file, not a folder")
            return


def unmatched_candidates(folder: str | None, tasks: list[Task]) -> list[str]:
    """Files of the candidates folder that name no task (`DIR/<task name>.py` is matched by name,
    as `run` matches problem names): a misspelt name would otherwise be silently never tried."""
    if not folder or not Path(folder).is_dir():
        return []
    names = {t.name for t in tasks}
    return sorted(f.name for f in Path(folder).glob("*.py") if f.stem not in names and not f.name.startswith("_"))
