"""What defines a swarm run and what it reports as it goes: the run's configuration (stored with
it, so that --resume rebuilds the same run), progress events, and the stored form of a problem."""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from kernelswarm.problems.load import Problem
from kernelswarm.records import Evaluation, Timing
from kernelswarm.store import ProblemResult

CONTEXT_ARMS = ("feedback", "profile", "other-backend")


@dataclass
class RunConfig:
    """Everything that defines a run; stored with it so that --resume rebuilds the same run."""

    device: str = "cpu"
    problems: list[str] = field(default_factory=list)  # the PROBLEMS arguments as given
    suite: str | None = None
    level: int | None = None
    agents: list[str] | None = None  # names as given; None means every configured agent
    models: str | None = None  # models file
    candidates: str | None = None  # folder of hand-written candidates
    rounds: int = 1
    budget_usd: float | None = None  # stop asking billable agents once the run's cost reaches it
    jobs: int = 1  # evaluations at once; >1 lets timings overlap, so 1 keeps them exclusive
    context: list[str] = field(default_factory=lambda: ["feedback"])  # context arms switched on
    timeout_s: float = 300.0  # per candidate evaluation
    baseline_timeout_s: float = 600.0
    strict: bool = False
    precision: str = "fp32"
    compile_baseline: bool = True  # also time torch.compile of the reference
    shard: str | None = None  # "K/N": this run's part of the problem list (scale.shard.Shard)
    devices: list[str] | None = None  # GPUs of this host the run spreads over ("cuda:0", ...); None: one
    ray: str | None = None  # Ray address ("local" or a cluster's) whose actors evaluate; None: this process
    mode: str | None = None  # --mode: "train" (forward plus backward) or "inference"; None: each problem's own
    min_gain: float = 0.02  # a candidate replaces the faster baseline only when its interval's low end clears 1 + this

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "RunConfig":
        names = {f.name for f in fields(RunConfig)}
        return RunConfig(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class Event:
    """Progress, for a front end to show. Emitted from the supervisor's threads (one per problem in
    flight), so a front end that keeps state must lock it."""

    kind: str  # problem | baselines | proposed | evaluated | done | note
    problem: str
    agent: str = ""
    round: int = 0
    message: str = ""  # one line for the terminal
    evaluation: Evaluation | None = None  # with kind == "evaluated"
    result: ProblemResult | None = None  # with kind == "done"
    eager: Timing | None = None  # with kind == "baselines"
    compiled: Timing | None = None


def host_versions(device: str) -> dict[str, str]:
    """Library versions known without touching the device; the evaluator adds the device's own."""
    import torch

    out = {"torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform()}
    if device == "cuda":
        out["cuda"] = str(torch.version.cuda)
        try:
            import triton

            out["triton"] = triton.__version__
        except ImportError:
            pass
    return out


def problem_from_row(row: dict[str, Any]) -> Problem:
    """A problem as stored with its run, so that a resumed run judges exactly the same code."""
    return Problem(name=row["name"], path=Path(row["path"]), source=row["source"], hash=row["hash"],
                   level=row["level"], sizes=row["sizes"])
