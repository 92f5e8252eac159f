"""`kernelswarm.optimize(model, example_inputs, ...)`: capture, cut into tasks, the swarm on each
task, assemble the winners, judge the whole model, return the fastest correct implementation.
This module checks the call's arguments; the records are in optimize/result.py, the steps in
optimize/pipeline.py and optimize/judge.py."""

from __future__ import annotations

from typing import Any, Callable

from torch import nn

from kernelswarm.optimize.pipeline import run
from kernelswarm.optimize.result import (
    OptimizedModel,
    OptimizeError,
    Settings,
    Stage,
    TaskResult,
)
from kernelswarm.optimize.search import MIN_SHARE, check_folder
from kernelswarm.optimize.verify import MIN_GAIN

__all__ = ["OptimizeError", "OptimizedModel", "Settings", "Stage", "TaskResult", "optimize", "run"]


def optimize(model: nn.Module, example_inputs: Any, device: str | None = None, agents: Any = None, models: Any = None,
             candidates: Any = None, rounds: int = 1, budget: float | None = None, db: str = "kernelswarm.db",
             jobs: int = 1, timeout: float | None = None, precision: str = "fp32", *, resume: bool = False,
             tasks_out: str | None = None, min_share: float = MIN_SHARE, compile: bool = True,
             on_event: Callable | None = None, devices: list[str] | None = None,
             ray: str | None = None, min_gain: float = MIN_GAIN, mode: str = "inference",
             loss_fn: Callable | None = None, should_stop: Callable[[], bool] | None = None,
             search_below: float = 0.0, on_stage: Callable[[Stage], None] | None = None,
             time_budget: float | None = None, compile_limit: float | None = None,
             assemble_accepted: bool = False, search_top: int | None = None) -> OptimizedModel:
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
    if search_top is not None and (isinstance(search_top, bool) or not isinstance(search_top, int) or search_top < 1):
        raise OptimizeError(f"search_top is a number of tasks, at least 1, not {search_top!r}")
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
                 compile_limit=compile_limit, assemble_accepted=assemble_accepted, search_top=search_top)
    return run(model, example_inputs, s, whole=None, on_event=on_event)
