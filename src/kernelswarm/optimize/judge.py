"""After the search: each task's result and winner, the winners assembled into the model, the
assembled model judged end to end, and the module handed back (the chosen implementation)."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from kernelswarm.optimize.assemble import Winner, apply_to, assembled_source
from kernelswarm.optimize.result import Settings, TaskResult
from kernelswarm.optimize.tasks import Cut, Task
from kernelswarm.optimize.verify import EndToEnd, TrainSpec, end_to_end
from kernelswarm.problems.load import Problem


def task_results(c: Cut, results: dict) -> tuple[list[TaskResult], list[Winner]]:
    from kernelswarm.optimize.search import allowances

    allow = allowances(c.tasks, 1, None)
    out, winners = [], []
    for t in c.tasks:
        r = results.get(t.name)
        best = r.best if r is not None else None
        if best is not None:
            winners.append(Winner(t.name, best.source, best.agent, best.candidate_ms, r.best_baseline_ms))
        out.append(TaskResult(t.name, t.count, t.share, r.eager_ms if r else None, r.compile_ms if r else None,
                              r.result_ms if r else None, best.agent if best else None, t.class_name,
                              tuple(t.paths), allow[t.name].llm, r.speedup_vs_eager if r else None,
                              best.speedup_ci if best else None))
    return out, winners


def accepted_not_won(c: Cut, results: dict, winners: list[Winner]) -> list[Winner]:
    """Each task without a winner but with a correct candidate: its fastest, as if it had won."""
    won = {w.task for w in winners}
    out = []
    for t in c.tasks:
        r = results.get(t.name)
        fa = r.fastest_accepted if r is not None and t.name not in won else None
        if fa is not None and fa.candidate_ms and r.best_baseline_ms:
            out.append(Winner(t.name, fa.source, fa.agent, fa.candidate_ms, r.best_baseline_ms))
    return out


def assemble(c: Cut, winners: list[Winner], problem: Problem, root: str, s: Settings) -> tuple[str, str | None]:
    """The assembled model's source, and its torch.compile form's (None when not asked for)."""
    from kernelswarm.agents.builtin import embed_problem

    base = embed_problem(problem, s.device)
    plans = [t.plan | {"paths": list(t.paths)} for t in c.tasks if t.name in {w.task for w in winners}]
    train = s.mode == "train"
    source = assembled_source(base, root, plans, winners, train=train)
    compiled = assembled_source(base, root, plans, winners, compiled=True, train=train) if s.compile_assembled else None
    return source, compiled


def verify_assembled(s: Settings, user: Problem | None, redrawn: Problem | None, source: str | None, compiled: str | None,
            base: EndToEnd | None, own_root: bool, loss: dict[str, str] | None, clock: Any = None) -> EndToEnd:
    """The assembled model judged end to end (its baselines reused from `base`); when the
    budget ran out first, the faster baseline stands and a note says the assembly was not judged.
    torch.compile(assembled) is left out where torch.compile of the whole model was not measured,
    or where the budget has room for the assembled model's evaluations without it only."""
    if user is None:
        return EndToEnd("eager", None, None, notes=["the whole model could not be judged"], mode=s.mode)
    dropped = ""
    if source is not None and compiled is not None:
        if base is not None and base.compile_missing:
            compiled, dropped = None, f"torch.compile of the whole model was {base.compile_missing}"
        elif clock is not None and not clock.fits_judgement(True) and clock.fits_judgement(False):
            clock.compiled_form = False
            compiled, dropped = None, "the budget had room for the assembled model's evaluations without it only"
    if dropped and base is not None:
        base.notes.append(f"torch.compile(assembled) was not judged: {dropped}")
    if source is not None and s.should_stop is not None and s.should_stop():
        assert base is not None
        base.notes.append("the assembled model was not judged: the time budget ran out (the faster baseline stands)")
        base.reason = f"{'torch.compile' if base.choice == 'compile' else base.choice} stands: the assembled model " \
                      "was not judged within the time budget"
        return base
    train = TrainSpec("region" if own_root else "", loss) if s.mode == "train" else None
    return end_to_end(user, redrawn, source, compiled, s.device, s.timeout or 600.0, s.precision,
                      compile_baseline=s.compile_baselines, min_gain=s.min_gain, train=train, base=base,
                      jobs=s.jobs)


def result_model(model: nn.Module, choice: str, source: str | None, tasks: list[Task], winners: list[Winner],
                  device: str) -> Any:
    """The chosen implementation, as a module the user calls: their model (untouched), compiled,
    or a copy of it with the winners swapped in (compiled or not)."""
    if choice == "eager":
        return model
    if choice == "compile":
        return torch.compile(model)
    assembled = copy.deepcopy(model).to(device)
    apply_to(assembled, source)
    return torch.compile(assembled) if choice == "compile(assembled)" else assembled
