"""What one evaluation accumulates before its verdict, and the exception that ends it early with
one (run.py's phases raise it through `State.fail`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kernelswarm.evaluate.parent.devicelock import DeviceLock, NoLock
from kernelswarm.evaluate.parent.options import EvalOptions
from kernelswarm.evaluate.parent.procs import WorkerProcess
from kernelswarm.records import Check, Mode, Verdict


@dataclass
class State:
    """What one evaluation accumulates before the verdict."""

    options: EvalOptions
    lock: DeviceLock | NoLock
    base_deadline: float
    checks: list[Check] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)
    pending: list[tuple[str, dict[str, Any], Any]] = field(default_factory=list)  # (label, check msg, outputs blob)
    mode: Mode = Mode.INFERENCE  # train: outputs are a call's outputs followed by its gradients
    # From the plain trials' checks: the float32 reference's own normwise error and what the
    # policy allowed there; timed outputs' projections are judged by them (compare.projection_allowance).
    ref_rel: float = 0.0
    allowed_norm: float = 0.0
    work_pending: bool = False  # the reference's worker owes the floor's count (op_work)
    # Replies to the first of `pending`'s checks, asked while the kept outputs were collected
    # (judge.collect_checking), judged in order with the rest (judge.outputs).
    checked: list[dict[str, Any]] = field(default_factory=list)
    # Bytes of outputs the candidate's worker may still leave on the device (wire/devfd.py) rather
    # than send through the host: each such block is held until the evaluation ends. 0: the host.
    device_bytes: int = 0
    output_bytes: int = 0  # one call's outputs, from the reference's spec

    def device_outputs(self, nbytes: int) -> bool:
        """Whether the next outputs (`nbytes` of them) may stay on the device; counts them if so."""
        if 0 < nbytes <= self.device_bytes:
            self.device_bytes -= nbytes
            return True
        return False

    def __post_init__(self) -> None:
        self.waited_before = self.lock.waited_s()

    @property
    def waited_s(self) -> float:
        """Time this evaluation spent waiting for the device lock."""
        return self.lock.waited_s() - self.waited_before

    @property
    def deadline(self) -> float:
        """--timeout bounds the candidate's own time: waiting for the device is added back."""
        return self.base_deadline + self.waited_s

    def fail(self, verdict: Verdict, name: str, detail: str) -> VerdictReached:
        self.checks.append(Check(name, False, detail))
        return VerdictReached(verdict, f"{name}: {detail}")

    def ok(self, name: str, detail: str = "") -> None:
        self.checks.append(Check(name, True, detail))


class VerdictReached(Exception):
    """The evaluation's verdict, reached before its end (`State.fail` makes one)."""

    def __init__(self, verdict: Verdict, reason: str, noise_sensitive: bool = False) -> None:
        super().__init__(reason)
        self.verdict = verdict
        self.reason = reason
        self.noise_sensitive = noise_sensitive


def clean_workers(st: State, ref: WorkerProcess, flusher: WorkerProcess) -> tuple[WorkerProcess, ...]:
    """The clean workers that check outputs: the flusher is as clean as the reference's worker.
    (In training mode only the reference's worker knows the outputs' roles.)"""
    return (ref, flusher) if st.mode is not Mode.TRAIN else (ref,)

