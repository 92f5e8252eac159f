"""The records of `optimize`: its run options (Settings), a stage just ended (Stage), each task's
result (TaskResult) and the whole result (OptimizedModel); OptimizeError for unusable input."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from kernelswarm.optimize.assemble import Winner
from kernelswarm.optimize.search import MIN_SHARE
from kernelswarm.optimize.tasks import Task
from kernelswarm.optimize.verify import MIN_GAIN, EndToEnd


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
    search_top: int | None = None  # only the N hottest tasks (of those not below search_below) are searched
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
