"""Typed records that cross module boundaries. Standard library only: the worker imports this."""

from __future__ import annotations

import dataclasses
import enum
import json
from dataclasses import dataclass, field
from typing import Any


class Verdict(str, enum.Enum):
    """The outcome of evaluating one candidate (DESIGN.md vocabulary)."""

    ACCEPTED = "accepted"
    INCORRECT = "incorrect"  # ran, but its outputs do not match the reference
    COMPILE_ERROR = "compile_error"  # import, extension build or kernel compilation failed
    RUNTIME_ERROR = "runtime_error"  # raised or crashed while running
    TIMEOUT = "timeout"  # the whole evaluation ran past its time limit
    REJECTED = "rejected"  # a trust check caught something (static screen, tampering, physics)


class Kind(str, enum.Enum):
    """What actually ran in an accepted candidate."""

    CUSTOM_KERNEL = "custom-kernel"
    PYTORCH_REWRITE = "pytorch-rewrite"


class Precision(str, enum.Enum):
    """How faithful a candidate must be: fp32 (default) or an explicitly allowed reduced precision."""

    FP32 = "fp32"
    TF32 = "tf32"
    BF16 = "bf16"
    FP16 = "fp16"


class Mode(str, enum.Enum):
    """What one call of a problem is: its forward alone, or forward plus backward (issue 17)."""

    INFERENCE = "inference"  # the forward's outputs are timed and compared
    TRAIN = "train"  # forward plus backward with a seeded upstream gradient; outputs and gradients compared

    @staticmethod
    def resolve(flag: "Mode | str | None", declared: "Mode | str | None") -> "Mode":
        """The mode an evaluation runs in: the command-line flag wins over the problem's
        `KERNELSWARM_MODE`; neither means inference."""
        return Mode(flag or declared or Mode.INFERENCE)


class SpeedDecision(str, enum.Enum):
    """What a speedup's confidence interval says against a required gain (intervals.decide)."""

    FASTER = "faster"  # the interval's low end clears 1 + the margin
    NOT_FASTER = "not-faster"  # it does not, and the interval is narrow enough to say so
    UNDECIDED = "undecided"  # it straddles the margin widely even after timing more: the machine is too noisy


class Selection(str, enum.Enum):
    """Why the supervisor's selection gave a problem of a run the result it has."""

    WIN = "win"  # a candidate's interval against the faster baseline cleared 1 + --min-gain
    NOT_FASTER = "not-faster"  # accepted candidates, none clearing the margin: the baseline stands
    TOO_NOISY = "too-noisy"  # the best candidate's interval was too wide to decide: the baseline stands
    NONE_ACCEPTED = "none-accepted"  # no candidate was accepted: the baseline stands
    NO_BASELINE = "no-baseline"  # the reference could not be timed


@dataclass(frozen=True)
class Check:
    """One named check of an evaluation."""

    name: str  # short identifier, e.g. "static", "correctness", "inputs-unchanged"
    passed: bool  # whether the candidate passed it
    detail: str = ""  # a human reason, always set when it failed


@dataclass(frozen=True)
class Timing:
    """Per-call times of one implementation under the timing protocol, in milliseconds."""

    median_ms: float  # the figure speedups use
    mean_ms: float
    min_ms: float
    p10_ms: float  # 10th percentile
    p90_ms: float  # 90th percentile
    n: int  # number of timed calls
    # Every call's time in the order timed; in a paired window sample i of each implementation
    # was timed side by side, which is what a speedup's interval resamples. Empty in old records.
    samples: tuple[float, ...] = field(default=(), repr=False, compare=False)

    @property
    def spread(self) -> float:
        """Relative spread (p90 - p10) / median."""
        return (self.p90_ms - self.p10_ms) / self.median_ms if self.median_ms > 0 else 0.0

    @staticmethod
    def from_samples(samples_ms: list[float]) -> "Timing":
        s = sorted(samples_ms)
        n = len(s)
        if n == 0:
            raise ValueError("no timing samples")

        def q(p: float) -> float:
            return s[min(n - 1, max(0, int(round(p * (n - 1)))))]

        mid = n // 2
        median = s[mid] if n % 2 else 0.5 * (s[mid - 1] + s[mid])
        return Timing(median, sum(s) / n, s[0], q(0.1), q(0.9), n, tuple(samples_ms))

    @staticmethod
    def from_dict(d: dict | None) -> "Timing | None":
        if d is None:
            return None
        return Timing(**{k: d[k] for k in _TIMING_FIELDS}, samples=tuple(d.get("samples", ())))


_TIMING_FIELDS = ("median_ms", "mean_ms", "min_ms", "p10_ms", "p90_ms", "n")


@dataclass
class Evaluation:
    """The verdict on one candidate for one problem on one backend."""

    problem: str  # problem name
    device: str  # backend name: cpu, cuda, mps
    verdict: Verdict
    reason: str  # one line: why not accepted, or a summary when accepted
    kind: Kind | None = None  # set only when accepted
    precision: Precision = Precision.FP32  # the policy the candidate was judged under
    mode: Mode = Mode.INFERENCE  # train: one call was forward plus backward, gradients compared too
    checks: list[Check] = field(default_factory=list)
    reference: Timing | None = None  # eager reference, timed in the clean process paired with the candidate
    # torch.compile of the reference, when measured: timed paired with eager (in this run's baseline
    # phase, or after the candidate), its times scaled by this window's eager median over that one's
    compiled: Timing | None = None
    candidate: Timing | None = None  # set when the candidate was timed
    custom_share: float | None = None  # share of device time in the candidate's own kernels
    max_rel_error: float | None = None  # worst normwise error against fp64 over all trials
    sol_ms: float | None = None  # speed-of-light time of the problem on this device (measured peaks)
    problem_hash: str = ""
    versions: dict[str, str] = field(default_factory=dict)  # torch, triton, driver, device name
    wall_s: float = 0.0  # wall time of the whole evaluation
    phases_s: dict[str, float] = field(default_factory=dict)  # where the wall time went
    log_tail: str = ""  # last lines the candidate printed, for feedback
    host: str = ""  # the machine that timed it, when a run spreads over GPUs or a Ray cluster
    device_index: int | None = None  # the GPU of that machine (its CUDA index), when placed on one
    problem_flags: list[str] = field(default_factory=list)  # the problem's screening findings; empty when clean

    @property
    def timed_on(self) -> str:
        """Where it was timed, e.g. 'node3 cuda:1' ('' when the run did not place evaluations)."""
        return timed_on(self.host, self.device_index)
    speedup_ci: tuple[float, float] | None = None  # interval of `speedup` from the paired samples; None unless accepted
    speedup_vs_compile_ci: tuple[float, float] | None = None  # the same against torch.compile, when measured
    # A rejection that load on the machine could have caused (the wall-clock checks, a timeout):
    # the supervisor judges an identical later proposal again instead of reusing it.
    noise_sensitive: bool = False
    # Seconds this evaluation waited, before it started, for another kernelswarm process to finish
    # with the device (locks.device_lock), and who that was; never counted against the candidate.
    lock_wait_s: float = 0.0
    lock_holder: str = ""

    def waited_for(self, seconds: float, holder: str) -> None:
        """Add a wait for another process's hold on the device (locks.LockWait's figures)."""
        if holder:
            self.lock_wait_s = round(self.lock_wait_s + seconds, 3)
            self.lock_holder = holder

    @property
    def correct(self) -> bool:
        return self.verdict is Verdict.ACCEPTED

    @property
    def speedup(self) -> float | None:
        """Eager reference time over candidate time; None unless accepted."""
        if not self.correct or not self.reference or not self.candidate:
            return None
        return self.reference.median_ms / self.candidate.median_ms

    @property
    def fraction_of_sol(self) -> float | None:
        """Speed-of-light time over the candidate's time (1.0 = at the measured peaks)."""
        if not self.correct or not self.sol_ms or not self.candidate:
            return None
        return self.sol_ms / self.candidate.median_ms

    @property
    def speedup_vs_compile(self) -> float | None:
        if not self.correct or not self.compiled or not self.candidate:
            return None
        return self.compiled.median_ms / self.candidate.median_ms

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of DESIGN.md's `kernelswarm eval --json`."""
        d = dataclasses.asdict(self)
        d["verdict"] = self.verdict.value
        d["kind"] = self.kind.value if self.kind else None
        d["precision"] = self.precision.value
        d["mode"] = self.mode.value
        d["correct"] = self.correct
        d["reference_ms"] = self.reference.median_ms if self.reference else None
        d["candidate_ms"] = self.candidate.median_ms if self.candidate else None
        d["compiled_ms"] = self.compiled.median_ms if self.compiled else None
        d["speedup"] = self.speedup
        d["speedup_vs_compile"] = self.speedup_vs_compile
        d["fraction_of_sol"] = self.fraction_of_sol
        d["speedup_ci"] = list(self.speedup_ci) if self.speedup_ci else None
        d["speedup_vs_compile_ci"] = list(self.speedup_vs_compile_ci) if self.speedup_vs_compile_ci else None
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "Evaluation":
        return Evaluation(
            problem=d["problem"],
            device=d["device"],
            verdict=Verdict(d["verdict"]),
            reason=d["reason"],
            kind=Kind(d["kind"]) if d.get("kind") else None,
            precision=Precision(d.get("precision", "fp32")),
            mode=Mode(d.get("mode", "inference")),
            checks=[Check(**c) for c in d.get("checks", [])],
            reference=Timing.from_dict(d.get("reference")),
            compiled=Timing.from_dict(d.get("compiled")),
            candidate=Timing.from_dict(d.get("candidate")),
            custom_share=d.get("custom_share"),
            max_rel_error=d.get("max_rel_error"),
            sol_ms=d.get("sol_ms"),
            problem_hash=d.get("problem_hash", ""),
            versions=dict(d.get("versions", {})),
            wall_s=d.get("wall_s", 0.0),
            phases_s=dict(d.get("phases_s", {})),
            log_tail=d.get("log_tail", ""),
            host=d.get("host", ""),
            device_index=d.get("device_index"),
            problem_flags=list(d.get("problem_flags", [])),
            speedup_ci=_interval(d.get("speedup_ci")),
            speedup_vs_compile_ci=_interval(d.get("speedup_vs_compile_ci")),
            noise_sensitive=bool(d.get("noise_sensitive", False)),
            lock_wait_s=float(d.get("lock_wait_s") or 0.0),
            lock_holder=str(d.get("lock_holder") or ""),
        )


def lock_wait_text(seconds: float, holder: str) -> str:
    """How the progress display and the report say that an evaluation waited for another
    kernelswarm process's hold on the device."""
    return f"waited {seconds:.1f} s for the device: {holder} held it"


def timed_on(host: str | None, device_index: int | None) -> str:
    """'host cuda:N', 'host', 'cuda:N' or '': where an evaluation was timed."""
    gpu = f"cuda:{device_index}" if device_index is not None else ""
    return " ".join(x for x in (host or "", gpu) if x)


def _interval(v: Any) -> tuple[float, float] | None:
    return None if v is None else (float(v[0]), float(v[1]))


@dataclass
class ModelCall:
    """One request to a language model, stored with the candidate it produced."""

    model: str  # the model's `name` from the models file
    prompt: str  # full prompt text (system + user), never containing API keys
    reply: str  # full reply text ("" when the call failed)
    tokens_in: int = 0
    tokens_out: int = 0
    latency_s: float = 0.0
    cost_usd: float = 0.0  # from the models file's prices; 0 when unknown
    error: str = ""  # one line when the call failed


@dataclass
class Candidate:
    """A proposed implementation: Python source defining `ModelNew`, and where it came from."""

    source: str  # the candidate file's text
    agent: str  # name of the agent that proposed it
    problem: str = ""  # problem name
    round: int = 0  # supervisor round that produced it (0 = first)
    parent_id: int | None = None  # store id of the candidate it improves on, if any
    context: dict[str, Any] = field(default_factory=dict)  # context arms shown to the agent
    language: str = "pytorch"  # triton, cuda, cpp, metal, pytorch, compile
    note: str = ""  # the agent's own description, or why it failed to produce code
    calls: list[ModelCall] = field(default_factory=list)  # model requests behind it (LLM agents)
    id: int | None = None  # store id once stored
