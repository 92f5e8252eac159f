"""`kernelswarm.optimize(model, example_inputs, ...)`: capture, cut into tasks, the swarm on each
task, assemble the winners, judge the whole model, return the fastest correct implementation."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from kernelswarm.optimize.assemble import Winner, apply_to, assembled_source
from kernelswarm.optimize.baseline_cache import resumable_baselines
from kernelswarm.optimize.capture import CaptureError, capture
from kernelswarm.optimize.clock import clocked
from kernelswarm.optimize.search import (
    MIN_SHARE,
    check_folder,
    run_tasks,
    unmatched_candidates,
    write_tasks,
)
from kernelswarm.optimize.tasks import Cut, Task, cut
from kernelswarm.optimize.verify import (
    MIN_GAIN,
    EndToEnd,
    TrainSpec,
    end_to_end,
    whole_problems,
)
from kernelswarm.problems.load import Problem


class OptimizeError(ValueError):
    """Unusable input for optimize (the model fails on its inputs, an unknown device, ...); one line."""


@dataclass(frozen=True)
class TaskResult:
    """One task after the search: its share, count, baselines and result."""

    name: str
    count: int  # calls per model forward, every instance together
    share: float  # of the model's eager time, before
    baseline_ms: float | None  # eager time of the task alone
    compile_ms: float | None
    best_ms: float | None  # the winner's time, else the faster baseline's
    agent: str | None  # the winner's agent; None when no candidate beat the baselines
    class_name: str = ""
    paths: tuple[str, ...] = ()
    llm: bool = True  # whether model agents were asked (share above the threshold)
    # Against eager, from the winner's own paired window (the store's ProblemResult); None: not measured
    paired_speedup: float | None = None
    speedup_ci: tuple[float, float] | None = None  # the winner's interval against eager; None when a baseline stands

    @property
    def speedup(self) -> float | None:
        if self.paired_speedup is not None:
            return self.paired_speedup
        return self.baseline_ms / self.best_ms if self.baseline_ms and self.best_ms else None

    @property
    def share_after(self) -> float:
        """This task's time with its winner, as a share of the model's eager time."""
        return self.share / self.speedup if self.agent and self.speedup else self.share


@dataclass
class OptimizedModel:
    """The result of `optimize`: `model` is the fastest correct of eager, torch.compile(model), the
    assembled model and torch.compile(assembled). Inference only: a swapped region runs its winner
    only for calls like the verified one that need no gradients; others run the original region."""

    model: Any
    correct: bool
    speedup_vs_eager: float | None
    speedup_vs_compile: float | None
    tasks: list[TaskResult]
    choice: str
    model_class: str
    device: str
    end_to_end: EndToEnd
    refused: list[tuple[str, str]] = field(default_factory=list)  # (module path, why it is no task)
    covered_share: float = 0.0
    seconds: dict[str, float] = field(default_factory=dict)  # capture, cut, search, assemble, verify
    assembled: str | None = None  # the assembled candidate's source (None: nothing to assemble)
    winners: list[Winner] = field(default_factory=list)
    task_list: list[Task] = field(default_factory=list)
    run_id: int | None = None
    versions: dict[str, str] = field(default_factory=dict)
    model_module: str = ""
    mode: str = "inference"  # "train": optimized (and verified) for training too

    @property
    def speedup_ci(self) -> tuple[float, float] | None:
        """The result's interval against eager, from its paired window (kernelswarm.intervals)."""
        return self.end_to_end.speedup_ci

    @property
    def speedup_vs_compile_ci(self) -> tuple[float, float] | None:
        return self.end_to_end.speedup_vs_compile_ci

    @property
    def ceiling(self) -> float | None:
        """Amdahl: the model's speedup if every task took no time (None: no bound)."""
        return 1.0 / (1.0 - self.covered_share) if self.covered_share < 0.999 else None

    def save(self, folder: str | Path) -> Path:
        from kernelswarm.optimize.manifest import save

        return save(self, Path(folder))


@dataclass
class Settings:
    """Run options, as `kernelswarm run` takes them."""

    device: str
    agents: list[str] | None = None
    models: str | None = None
    candidates: str | None = None
    rounds: int = 1
    budget: float | None = None
    db: str = "kernelswarm.db"
    jobs: int = 1
    timeout: float | None = None
    precision: str = "fp32"
    resume: bool = False
    tasks_out: str | None = None
    min_share: float = MIN_SHARE
    compile_assembled: bool = True
    compile_baselines: bool = True  # False: no torch.compile anywhere (faster; speedup_vs_compile is None)
    devices: list[str] | None = None  # the tasks spread over these GPUs of this host (kernelswarm.scale)
    ray: str | None = None  # ... or over Ray actors at this address ("local" starts Ray here)
    min_gain: float = MIN_GAIN  # an interval must clear 1 + this to replace a baseline (tasks and the whole model)
    mode: str = "inference"  # "train": tasks judged forward plus backward, whole training steps checked
    loss_fn: Callable | None = None  # training mode: loss_fn(output, *inputs) -> scalar; None: a random projection
    # Asked before each task and before the assembled model is judged; once it says yes, the
    # remaining tasks are left unsearched and nothing unjudged is assembled (the run stays resumable).
    should_stop: Callable[[], bool] | None = None
    search_below: float = 0.0  # tasks under this share of the model's time are not searched at all
    on_stage: Callable[[Stage], None] | None = None  # told as each stage ends (benchmarks write rows)
    time_budget: float | None = None  # wall seconds for the whole run (optimize/clock.py); None: no limit
    # Wall seconds for the whole model's eager and torch.compile window; past it torch.compile is
    # "not measured in time" and eager is timed alone. None: with a time budget, a share of it.
    compile_limit: float | None = None
    # Assemble a task's fastest accepted (correct) candidate even where it did not clear the task's
    # bar: the whole model's judgement decides (a hand-written kernel's end-to-end effect measured).
    assemble_accepted: bool = False


@dataclass(frozen=True)
class Stage:
    """A stage of `run` just ended: what is known so far, for a caller that reports as it goes.
    `name`: cut (tasks found), baselines (the whole model's eager and torch.compile), searched
    (every task's search), verified (the end)."""

    name: str
    seconds: dict[str, float]
    tasks: list[Task]
    refused: list[tuple[str, str]]
    covered_share: float
    end_to_end: EndToEnd | None = None


def optimize(model: nn.Module, example_inputs: Any, device: str | None = None, agents: Any = None, models: Any = None,
             candidates: Any = None, rounds: int = 1, budget: float | None = None, db: str = "kernelswarm.db",
             jobs: int = 1, timeout: float | None = None, precision: str = "fp32", *, resume: bool = False,
             tasks_out: str | None = None, min_share: float = MIN_SHARE, compile: bool = True,
             on_event: Callable | None = None, devices: list[str] | None = None,
             ray: str | None = None, min_gain: float = MIN_GAIN, mode: str = "inference",
             loss_fn: Callable | None = None, should_stop: Callable[[], bool] | None = None,
             search_below: float = 0.0, on_stage: Callable[[Stage], None] | None = None,
             time_budget: float | None = None, compile_limit: float | None = None,
             assemble_accepted: bool = False) -> OptimizedModel:
    """Optimize a whole model; see OptimizedModel. `agents` is a list of names (or a comma list),
    `models` a models file, `candidates` a folder of hand-written candidates (DIR/<task name>.py).
    `devices` (["cuda:0", "cuda:1"]) or `ray` (an address, or "local") spread the tasks' search
    (kernelswarm.scale); the whole model is judged here.

    `mode="train"`: the model is optimized for training. Tasks are judged forward plus backward
    (every gradient checked against float64), the assembled model runs its winners under autograd
    on the model's own parameters, and it is kept only when a few optimizer steps (momentum SGD and
    AdamW) of it match the original's and its whole training steps, timed paired, clear the gain
    bar. `loss_fn(output, *inputs)` is the training loss (a `def`; default: a fixed random
    projection of every output).

    `time_budget` (wall seconds for the whole call): before each task's search and before the
    assembled model is judged, the run stops when what comes next would not fit, estimated from
    what it measured (optimize/clock.py); the search's evaluations end by the time the judgement
    needs (cut there: they ran out of time). `compile_limit` (seconds; default with a budget: 40%
    of it): the whole model's torch.compile baseline is given up past it ("not measured in time",
    eager timed alone, no torch.compile(assembled)) rather than spending the budget on it.
    `assemble_accepted`: a task whose fastest correct candidate did not clear its bar is assembled
    with it all the same (the whole model's judgement still decides; notes name those tasks).

    Finer control: `should_stop()` is asked before each task's search and before the
    assembled model is judged (yes: the rest is skipped, the faster baseline stands unless an
    assembled model was judged); `search_below` leaves tasks under that share unsearched;
    `on_stage(Stage)` is told as the cut, the whole model's baselines and the search end."""
    from kernelswarm.agents.registry import parse_names
    from kernelswarm.backends import available, best_device

    device = device or best_device()
    if mode not in ("inference", "train"):
        raise OptimizeError(f"unknown mode {mode!r}: choose 'inference' or 'train'")
    if loss_fn is not None and mode != "train":
        raise OptimizeError("loss_fn is for mode='train'")
    if not available(device):
        raise OptimizeError(f"device {device!r} is not available on this machine")
    if time_budget is not None and not time_budget > 0:
        raise OptimizeError(f"time_budget is wall seconds, more than 0, not {time_budget!r}")
    if compile_limit is not None and not compile_limit > 0:
        raise OptimizeError(f"compile_limit is wall seconds, more than 0, not {compile_limit!r}")
    if tasks_out is not None:
        try:
            check_folder(tasks_out, "tasks_out")
        except ValueError as e:
            raise OptimizeError(str(e)) from None
    names = parse_names(agents) if isinstance(agents, str) else (list(agents) if agents else None)
    s = Settings(device, names, str(models) if models else None, str(candidates) if candidates else None, rounds,
                 budget, str(db), jobs, timeout, precision, resume, tasks_out, min_share, compile, compile,
                 devices=list(devices) if devices else None, ray=ray, min_gain=min_gain, mode=mode, loss_fn=loss_fn,
                 should_stop=should_stop, search_below=search_below, on_stage=on_stage, time_budget=time_budget,
                 compile_limit=compile_limit, assemble_accepted=assemble_accepted)
    return run(model, example_inputs, s, whole=None, on_event=on_event)


def _inputs(example_inputs: Any, device: str) -> tuple:
    if isinstance(example_inputs, torch.Tensor):
        example_inputs = (example_inputs,)
    if not isinstance(example_inputs, (tuple, list)):
        raise OptimizeError("example_inputs must be a tuple of tensors, as torch.export takes")
    return tuple(x.to(device) if isinstance(x, torch.Tensor) else x for x in example_inputs)


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
    tasks, winners = _results(c, results)
    tried = _accepted_not_won(c, results, winners) if s.assemble_accepted else []
    winners += tried
    if user is None:
        winners = []
    source, compiled = _assemble(c, winners, redrawn or user, "region" if whole is None else "", s) \
        if winners else (None, None)
    secs["assemble"] = time.monotonic() - t
    t = time.monotonic()
    e2e = _verify(s, user, redrawn, source, compiled, base, whole is None, loss, clock)
    secs["verify"] = time.monotonic() - t
    stray = unmatched_candidates(s.candidates, c.tasks)
    if stray:
        e2e.notes.append(f"candidates matching no task (never tried): {', '.join(stray[:8])}"
                         f"{' ...' if len(stray) > 8 else ''}; task names: {', '.join(t.name for t in c.tasks)}")
    if tried and source is not None:
        e2e.notes.append("assembled with candidates that did not clear their task's bar (assemble_accepted): "
                         + ", ".join(f"{w.task} ({w.baseline_ms / w.candidate_ms:.3f}x its faster baseline)"
                                     for w in tried))
    if at_deadline:
        e2e.notes.append("the search ran into its deadline (the budget less the judgement's reserve): an "
                         "evaluation still running was cut there, its verdict 'time limit' is the budget's")
    if clock is not None and clock.stopped and not any("time budget" in n for n in e2e.notes):
        e2e.notes.append(f"the time budget ({clock.seconds:.0f} s) ended the search early: resume to continue")
    result_model = _result_model(model, e2e.choice, source, c.tasks, winners, s.device)
    opt = OptimizedModel(
        model=result_model, correct=e2e.correct, speedup_vs_eager=e2e.speedup_vs_eager,
        speedup_vs_compile=e2e.speedup_vs_compile, tasks=tasks, choice=e2e.choice, model_class=cap.model_class,
        device=s.device, end_to_end=e2e, refused=c.refused, covered_share=c.covered_share, seconds=secs,
        assembled=source if e2e.assembled_ms is not None else None, winners=winners, task_list=c.tasks,
        run_id=run_id, versions=_versions(s.device, e2e), model_module=type(model).__module__, mode=s.mode)
    _stage(s, "verified", secs, c, e2e)
    return opt


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


def _verify(s: Settings, user: Problem | None, redrawn: Problem | None, source: str | None, compiled: str | None,
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


def _stage(s: Settings, name: str, secs: dict[str, float], c: Cut, e2e: EndToEnd | None = None) -> None:
    if s.on_stage is not None:
        s.on_stage(Stage(name, dict(secs), list(c.tasks), list(c.refused), c.covered_share, e2e))


def _assemble(c: Cut, winners: list[Winner], problem: Problem, root: str, s: Settings) -> tuple[str, str | None]:
    """The assembled model's source, and its torch.compile form's (None when not asked for)."""
    from kernelswarm.agents.builtin import embed_problem

    base = embed_problem(problem, s.device)
    plans = [t.plan | {"paths": list(t.paths)} for t in c.tasks if t.name in {w.task for w in winners}]
    train = s.mode == "train"
    source = assembled_source(base, root, plans, winners, train=train)
    compiled = assembled_source(base, root, plans, winners, compiled=True, train=train) if s.compile_assembled else None
    return source, compiled


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
                           deadline=deadline)
        return run_id, {r.name: r for r in store.problem_results(run_id)}
    finally:
        store.close()  # lets go of the writer's lock


def _results(c: Cut, results: dict) -> tuple[list[TaskResult], list[Winner]]:
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


def _accepted_not_won(c: Cut, results: dict, winners: list[Winner]) -> list[Winner]:
    """Each task without a winner but with a correct candidate: its fastest, as if it had won."""
    won = {w.task for w in winners}
    out = []
    for t in c.tasks:
        r = results.get(t.name)
        fa = r.fastest_accepted if r is not None and t.name not in won else None
        if fa is not None and fa.candidate_ms and r.best_baseline_ms:
            out.append(Winner(t.name, fa.source, fa.agent, fa.candidate_ms, r.best_baseline_ms))
    return out


def _result_model(model: nn.Module, choice: str, source: str | None, tasks: list[Task], winners: list[Winner],
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

