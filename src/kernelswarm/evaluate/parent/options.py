"""Settings of one evaluation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kernelswarm.records import Mode, Precision, Timing

if TYPE_CHECKING:
    from kernelswarm.evaluate.parent.devicelock import DeviceLock
    from kernelswarm.problems.load import Problem


@dataclass
class EvalOptions:
    device: str = "cpu"  # cpu | cuda
    timeout_s: float = 300.0  # bound on the whole evaluation of one candidate
    strict: bool = False  # accept only custom kernels
    precision: Precision = Precision.FP32  # the faithfulness policy
    trials: int = 5  # correctness trials on fresh inputs and re-drawn weights
    stress: bool = True  # extra trials with inputs scaled small and large
    timed_calls: int = 100  # at least this many timed calls...
    min_timing_s: float = 0.5  # ...and at least this much timed time (capped by max_timed_calls)
    max_timed_calls: int = 1000
    baseline_compile: bool = False  # also time torch.compile of the reference, alternately with eager
    # Eager and torch.compile of the reference timed alternately earlier in this run (their samples
    # paired): torch.compile's ratio to eager comes from them. No speedup divides by either: the
    # reference is always timed again beside the candidate.
    reference: Timing | None = None
    compiled: Timing | None = None
    # A copy of the compile caches the run's clean baseline worker filled when it compiled this
    # problem's reference (baselines.keep_caches); each candidate's own cache folders start as a
    # copy of it, so that a candidate compiling the same code finds those kernels built instead of
    # building them again. Only the clean worker writes a seed; no candidate sees another's caches.
    compile_seed: str | None = None
    reverify_above: float = 10.0  # speedups over the faster baseline beyond this are evaluated twice
    # Tests switch the static screen off to prove that the runtime checks stand on their own.
    static_screen: bool = True
    # The supervisor's lock for this device (devicelock.DeviceLock): a timing holds it and every
    # other evaluation's workers are stopped meanwhile; compiling and checking overlap freely.
    timing_lock: "DeviceLock | None" = None
    cpu_threads: int | None = None  # intra-op threads for both CPU workers (default: all cores)
    # The GPU the workers see, as a CUDA_VISIBLE_DEVICES entry (index or UUID) of this host; None:
    # whatever this process sees. Set by a run placed over several GPUs (kernelswarm.scale).
    gpu: str | None = None
    # --mode: train times and compares forward plus backward; None takes the problem's own
    # KERNELSWARM_MODE (inference when it declares none).
    mode: Mode | None = None

    def mode_for(self, problem: "Problem") -> Mode:
        """The mode this evaluation of `problem` runs in (the flag wins over the problem file)."""
        return Mode.resolve(self.mode, problem.mode)

    def threads(self) -> int | None:
        """Intra-op threads of both workers on a CPU (None elsewhere): the option, else
        $KERNELSWARM_CPU_THREADS, else every core. A CPU timing holds for its thread count only."""
        if self.device != "cpu":
            return None
        import os

        return self.cpu_threads or int(os.environ.get("KERNELSWARM_CPU_THREADS", "0")) or (os.cpu_count() or 1)

    @staticmethod
    def for_device(device: str, **overrides: object) -> "EvalOptions":
        """Defaults that suit the device: CPU calls carry a cache sweep each, so fewer of them."""
        base = EvalOptions(device=device)
        if device == "cpu":
            base.timed_calls, base.min_timing_s, base.max_timed_calls = 30, 0.2, 200
        else:
            base.timed_calls, base.min_timing_s, base.max_timed_calls = 100, 0.1, 500
        for key, value in overrides.items():
            if not hasattr(base, key):
                raise TypeError(f"unknown evaluation option {key!r}")
            setattr(base, key, value)
        return base
