"""Orchestration of one evaluation (being written)."""

from __future__ import annotations

from kernelswarm.evaluate.options import EvalOptions
from kernelswarm.problems.load import Problem
from kernelswarm.records import Evaluation, Timing


def evaluate(problem: Problem, candidate_source: str, options: EvalOptions | None = None) -> Evaluation:
    raise NotImplementedError("evaluate is being written")


def time_baselines(problem: Problem, device: str, compile_modes: tuple[str, ...] = ("default",), timeout_s: float = 600.0) -> dict[str, Timing]:
    """Time eager ('eager') and torch.compile of the reference ('compile:<mode>') in a clean process."""
    raise NotImplementedError("time_baselines is being written")
