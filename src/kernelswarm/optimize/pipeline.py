"""The whole pipeline of `optimize`, in the order the budget wants: capture, cut, the whole
model's baselines, the tasks' search, assembly, the assembled model's judgement. What needs no
candidate is measured first, so a run stopped early still reports it."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from kernelswarm.optimize import judge
from kernelswarm.optimize.baseline_cache import resumable_baselines
from kernelswarm.optimize.capture import CaptureError, capture
from kernelswarm.optimize.clock import clocked
from kernelswarm.optimize.result import OptimizedModel, OptimizeError, Settings, Stage
from kernelswarm.optimize.search import run_tasks, unmatched_candidates, write_tasks
from kernelswarm.optimize.tasks import Cut, cut
from kernelswarm.optimize.verify import EndToEnd, whole_problems
from kernelswarm.problems.load import Problem


def run(model: nn.Module, example_inputs: Any, s: Settings, whole: Problem | None,
        on_event: Callable | None = None) -> OptimizedModel:
    """The whole pipeline. `whole`: the user's own whole-model problem file (the command line's
    MODEL.py), else whole-model problems are written from the model itself. Order: capture, cut,
    the whole model's baselines, the tasks' search, assembly, the assembled model's judgement: what
    needs no candidate is measured first, so a run stopped early still reports it."""
    secs: dict[str, float] = {}
    t = time.monotonic()
    s, on_event, clock = clocked(s, on_event)
    inputs = _inputs(example_inputs, s.device)
    train = s.mode == "train"
    work = _working_copy(model, s.device, train)
    if train:  # judged as it trains: written from the model in training mode, not the file's own state
        whole = None
        if not any(p.requires_grad for p in work.parameters()):
            raise OptimizeError("training mode: the model has no trainable parameters")
    loss = _loss(s, Path(s.db).resolve().parent / ".kernelswarm") if train else None
    try:
        cap = capture(work, inputs, s.device, train=train)
    except CaptureError as e:
        raise OptimizeError(str(e)) from None
    secs["capture"] = time.monotonic() - t
    t = time.monotonic()
    c = cut(cap)
    folder = Path(s.tasks_out) if s.tasks_out else Path(s.db).resolve().parent / ".kernelswarm" / f"{cap.model_class}-tasks"
    problems = write_tasks(c.tasks, folder)
    redrawn, user = _whole(work, inputs, whole, c, folder.parent / f"{cap.model_class}-whole", cap.model_class, train)
    secs["cut"] = time.monotonic() - t
    _stage(s, "cut", secs, c)
    t = time.monotonic()
    base = resumable_baselines(user, s, folder.parent / f"{cap.model_class}-baselines.json") \
        if user is not None else None
    secs["baselines"] = time.monotonic() - t
    _stage(s, "baselines", secs, c, base)
    t = time.monotonic()
    deadline = clock.search_deadline() if clock is not None else None
    run_id, results = _search(problems, c, s, on_event, deadline) if c.tasks else (None, {})
    secs["search"] = time.monotonic() - t
    at_deadline = deadline is not None and time.monotonic() >= deadline - 1.0
    _stage(s, "searched", secs, c, base)
    t = time.monotonic()
    tasks, winners = judge.task_results(c, results)
    tried = judge.accepted_not_won(c, results, winners) if s.assemble_accepted else []
    winners += tried
    if user is None:
        winners = []
    source, compiled = judge.assemble(c, winners, redrawn or user, "region" if whole is None else "", s) \
        if winners else (None, None)
    secs["assemble"] = time.monotonic() - t
    t = time.monotonic()
    e2e = judge.verify_assembled(s, user, redrawn, source, compiled, base, whole is None, loss, clock)
    secs["verify"] = time.monotonic() - t
    _notes(e2e, s, c, tried if source is not None else [], at_deadline, clock)
    result_model = judge.result_model(model, e2e.choice, source, c.tasks, winners, s.device)
    opt = OptimizedModel(
        model=result_model, correct=e2e.correct, speedup_vs_eager=e2e.speedup_vs_eager,
        speedup_vs_compile=e2e.speedup_vs_compile, tasks=tasks, choice=e2e.choice, model_class=cap.model_class,
        device=s.device, end_to_end=e2e, refused=c.refused, covered_share=c.covered_share, seconds=secs,
        assembled=source if e2e.assembled_ms is not None else None, winners=winners, task_list=c.tasks,
        run_id=run_id, versions=_versions(s.device, e2e), model_module=type(model).__module__, mode=s.mode)
    _stage(s, "verified", secs, c, e2e)
    return opt


def _notes(e2e: EndToEnd, s: Settings, c: Cut, tried: list, at_deadline: bool, clock: Any) -> None:
    """What the result's notes say beyond the judgement: candidates that named no task, tasks
    assembled without clearing their bar (`tried`), the search cut by its deadline or the budget."""
    stray = unmatched_candidates(s.candidates, c.tasks)
    if stray:
        e2e.notes.append(f"candidates matching no task (never tried): {', '.join(stray[:8])}"
                         f"{' ...' if len(stray) > 8 else ''}; task names: {', '.join(t.name for t in c.tasks)}")
    if tried:
        e2e.notes.append("assembled with candidates that did not clear their task's bar (assemble_accepted): "
                         + ", ".join(f"{w.task} ({w.baseline_ms / w.candidate_ms:.3f}x its faster baseline)"
                                     for w in tried))
    if at_deadline:
        e2e.notes.append("the search ran into its deadline (the budget less the judgement's reserve): an "
                         "evaluation still running was cut there, its verdict 'time limit' is the budget's")
    if clock is not None and clock.stopped and not any("time budget" in n for n in e2e.notes):
        e2e.notes.append(f"the time budget ({clock.seconds:.0f} s) ended the search early: resume to continue")


def _inputs(example_inputs: Any, device: str) -> tuple:
    if isinstance(example_inputs, torch.Tensor):
        example_inputs = (example_inputs,)
    if not isinstance(example_inputs, (tuple, list)):
        raise OptimizeError("example_inputs must be a tuple of tensors, as torch.export takes")
    return tuple(x.to(device) if isinstance(x, torch.Tensor) else x for x in example_inputs)


def _working_copy(model: nn.Module, device: str, train: bool) -> nn.Module:
    """The copy that is captured and written out. Training mode: a model handed over in eval mode
    is switched to training (dropout and batch-norm statistics as in training); one already in
    training mode keeps its sub-modules' own flags (batch norms frozen for fine-tuning stay frozen)."""
    work = copy.deepcopy(model).to(device)
    if train and not work.training:
        work.train()
    return work


def _whole(work: nn.Module, inputs: tuple, whole: Problem | None, c: Cut, folder: Path, model_class: str,
           train: bool) -> tuple[Problem | None, Problem | None]:
    """(redrawn, user): the whole-model problems, written from the model unless the user gave one;
    (None, None) when the model's code cannot be written out (then nothing is assembled)."""
    if whole is not None:
        return None, whole
    try:
        return whole_problems(work, inputs, folder, _whole_name(model_class), train)
    except Exception as e:  # a model whose code cannot be written out: verify nothing, assemble nothing
        c.refused.append(("(whole model)", f"cannot be written as a problem: {type(e).__name__}: {e}"[:300]))
        return None, None


def _stage(s: Settings, name: str, secs: dict[str, float], c: Cut, e2e: EndToEnd | None = None) -> None:
    if s.on_stage is not None:
        s.on_stage(Stage(name, dict(secs), list(c.tasks), list(c.refused), c.covered_share, e2e))


def _search(problems: list[Problem], c: Cut, s: Settings, on_event: Callable | None,
            deadline: float | None = None) -> tuple[int, dict]:
    from kernelswarm.agents.registry import build_agents
    from kernelswarm.store import Store
    from kernelswarm.supervisor import RunConfig

    config = RunConfig(device=s.device, problems=[str(p.path) for p in problems], agents=s.agents, models=s.models,
                       candidates=s.candidates, rounds=s.rounds, budget_usd=s.budget, jobs=s.jobs,
                       timeout_s=s.timeout or 300.0, precision=s.precision, compile_baseline=s.compile_baselines,
                       devices=s.devices, ray=s.ray, min_gain=s.min_gain, mode="train" if s.mode == "train" else None)
    agents = build_agents(s.agents, Path(s.models) if s.models else None, Path(s.candidates) if s.candidates else None)
    store = Store(s.db)
    try:
        run_id = run_tasks(problems, c.tasks, store, config, agents, on_event=on_event, resume=s.resume,
                           min_share=s.min_share, should_stop=s.should_stop, search_below=s.search_below,
                           deadline=deadline, search_top=s.search_top)
        return run_id, {r.name: r for r in store.problem_results(run_id)}
    finally:
        store.close()  # lets go of the writer's lock


def _loss(s: Settings, folder: Path) -> dict[str, str] | None:
    from kernelswarm.optimize.steps import LossError, loss_file

    folder.mkdir(parents=True, exist_ok=True)
    try:
        return loss_file(s.loss_fn, folder)
    except LossError as e:
        raise OptimizeError(str(e)) from None


def _whole_name(model_class: str) -> str:
    from kernelswarm.optimize.tasks import _ident

    return _ident(model_class.lower()) + "_whole"


def _versions(device: str, e2e: EndToEnd) -> dict[str, str]:
    from kernelswarm.runconfig import host_versions

    out = dict(host_versions(device))
    for _, ev in e2e.evaluations:
        out.update({k: str(v) for k, v in (ev.versions or {}).items()})
    return out
