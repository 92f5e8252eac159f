"""Fakes for the scale-out tests: an evaluator and a baseline timer that need no worker process."""

from __future__ import annotations

from pathlib import Path

from kernelswarm import machine
from kernelswarm.records import Evaluation, Kind, Timing, Verdict

SWARM = Path(__file__).parents[1] / "fixtures" / "swarm"
LINEAR = str(SWARM / "problems" / "tiny_linear.py")
CONV = str(SWARM / "problems" / "tiny_conv.py")
ZERO = str(Path(__file__).parents[1] / "problems" / "fixtures" / "degenerate" / "always_zero.py")


def no_screen(lock):
    """A slot's screener for fake problems: nothing to find (Slot.screener_for)."""
    return lambda problem, device: []


def t(ms: float) -> Timing:
    return Timing.from_samples([ms])


def fake_evaluate(problem, source, options) -> Evaluation:
    ms = 6.0 if "compile-freezing" in source else 9.5
    return Evaluation(problem.name, options.device, Verdict.ACCEPTED, "ok", kind=Kind.PYTORCH_REWRITE,
                      reference=options.reference, compiled=options.compiled, candidate=t(ms),
                      versions={**machine.identity(options.device), "driver": "fake"})


def fake_baselines(problem, device, compile_modes=("default",), timeout_s=600.0, lock=None, **_):
    return {"eager": t(10.0), **({"compile:default": t(8.0)} if compile_modes else {})}
