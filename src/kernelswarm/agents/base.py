"""The Agent protocol and the Context an agent is shown."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from kernelswarm.problems.load import Problem
from kernelswarm.records import Candidate


@dataclass(frozen=True)
class Feedback:
    """What the supervisor tells an agent about one of its earlier candidates."""

    candidate_id: int | None  # store id of the earlier candidate
    round: int  # the round it was proposed in
    verdict: str  # Verdict value
    reason: str  # the evaluator's one-line reason (compile errors trimmed to what matters)
    candidate_ms: float | None = None  # its measured time, when accepted
    reference_ms: float | None = None  # eager reference time
    compiled_ms: float | None = None  # torch.compile time, when measured
    source: str = ""  # the candidate's source, so the agent can revise it


@dataclass
class Context:
    """What an agent is shown for one problem in one round. Each arm can be switched off."""

    device: str  # target backend: cpu, cuda, mps
    round: int = 0  # 0 for the first round
    device_facts: dict[str, str] = field(default_factory=dict)  # name, bandwidth, peak rates, cores
    feedback: list[Feedback] = field(default_factory=list)  # arm (a): earlier attempts
    profile: str | None = None  # arm (b): a profile summary of the reference
    other_backend_kernel: str | None = None  # arm (c): best accepted candidate for another device
    other_backend: str | None = None  # which device that kernel was written for
    mode: str = "inference"  # train: the candidate's forward and backward are judged (gradient contract)

    def arms(self) -> dict[str, bool]:
        """Which context arms were shown; recorded with every candidate."""
        return {
            "feedback": bool(self.feedback),
            "profile": self.profile is not None,
            "other_backend": self.other_backend_kernel is not None,
        }


class Agent(Protocol):
    name: str  # unique within a run; used by --agents and in reports

    def propose(self, problem: Problem, context: Context) -> list[Candidate]:
        """Return zero or more candidates. Must not raise for model or network failures:
        return a Candidate with empty source and a `note` saying why instead."""
        ...
