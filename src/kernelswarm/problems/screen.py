"""Screening: is a problem a fair test, one that only a correct candidate can pass?

A degenerate problem (an output that barely changes, is tiny, ignores its inputs, or that a
constant nearly matches) lets a no-op candidate "pass" and turns a benchmark into noise; this is
how several published speedups were later withdrawn. Screening runs the problem in this process:
it is the user's own code, never a candidate.
"""

from __future__ import annotations

import math
import types
from dataclasses import dataclass, field
from typing import Any

import torch

from kernelswarm.problems.load import Problem, exec_problem
from kernelswarm.problems.measure import as_tensors, instantiate, min_bytes, run_forward, strict_fp32, time_eager
from kernelswarm.problems.screened import LAUNCH_BOUND_MS
from kernelswarm.records import Mode

SEEDS = (0, 1, 2)
# A trivial candidate within this relative normwise error of the reference would likely pass the
# evaluator's fp32 criterion (which is far tighter); 1e-2 leaves a wide margin.
TRIVIAL_REL = 1e-2
# Swapping one input for another draw must move the output at least this much.
SENSITIVITY_REL = 1e-3
# Below this, every element is within any sensible absolute tolerance of zero.
TINY_ABS = 1e-6
# Two identical calls must agree this closely (allows for atomics' reordering on GPUs).
REPEAT_REL = 1e-5
# float32 against float64 on the same inputs, at unit scale and at the evaluator's stress scales.
NUMERIC_REL = 1e-3
STRESS_SCALES = (1.0, 1e-2, 1e2)
CPU_MAX_BYTES = 4 << 30
DEVICE_MEMORY_SHARE = 0.5


@dataclass
class Screening:
    """The screening verdict on one problem at one device's size preset."""

    problem: str  # problem name
    path: str  # where it was loaded from
    device: str  # where it ran (its KERNELSWARM_SIZES preset for that device applied)
    ok: bool  # True when no reason was found
    reasons: list[str] = field(default_factory=list)  # one line each, why it is flagged
    eager_ms: float | None = None  # median eager forward time, when timed
    bytes: int | None = None  # inputs + parameters + outputs

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.problem, "path": self.path, "device": self.device, "ok": self.ok,
                "reasons": self.reasons, "eager_ms": self.eager_ms, "bytes": self.bytes}


def rel_error(candidate: list[torch.Tensor], reference: list[torch.Tensor]) -> float:
    """Normwise ||candidate - reference|| / ||reference|| over all outputs, computed in float64."""
    num = den = 0.0
    for c, r in zip(candidate, reference):
        c, r = c.detach(), r.detach()  # a training problem's inputs require gradients
        r64 = r.to(torch.float64)
        num += float(torch.linalg.vector_norm(c.to(torch.float64) - r64)) ** 2
        den += float(torch.linalg.vector_norm(r64)) ** 2
    if den == 0.0:
        return 0.0 if num == 0.0 else math.inf
    return math.sqrt(num / den)


def _same_shapes(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(x.shape == y.shape for x, y in zip(a, b))


def _device_byte_limit(device: str) -> int:
    if device == "cuda":
        return int(DEVICE_MEMORY_SHARE * torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory)
    return CPU_MAX_BYTES


def _footprint(module: types.ModuleType) -> int | None:
    """Bytes of inputs, parameters and outputs, from shapes alone (the meta device allocates nothing).

    None when the problem cannot run on the meta device (data-dependent shapes, `.item()`).
    """
    try:
        model, inputs = instantiate(module, "meta")
        return min_bytes(model, inputs, as_tensors(run_forward(model, inputs)))
    except Exception:
        return None


def screen(problem: Problem, device: str = "cpu", time_it: bool = True, numerics: bool = True,
           mode: str | None = None) -> Screening:
    """Screen one problem at its size preset for `device`. Never raises for a problem that fails.
    In training mode (`mode`, else the problem's KERNELSWARM_MODE) its gradients are screened too."""
    result = Screening(problem.name, str(problem.path), device, ok=False)
    try:
        with strict_fp32():  # TF32 would pass for ill-conditioning, and the evaluator runs without it
            _screen(problem, device, time_it, numerics, result)
            if not result.reasons and Mode.resolve(mode, problem.mode) is Mode.TRAIN:  # KS-TRAIN
                from kernelswarm.problems.screen_train import check_gradients

                module = exec_problem(problem.source, str(problem.path), device)
                check_gradients(module, device, STRESS_SCALES, TINY_ABS, NUMERIC_REL, result.reasons)
    except Exception as e:  # the problem itself failed: that is a finding, not a crash
        first = str(e).splitlines()[0] if str(e) else ""
        result.reasons.append(f"fails to run: {e.__class__.__name__}: {first}"[:300])
    result.ok = not result.reasons
    return result


def _screen(problem: Problem, device: str, time_it: bool, numerics: bool, result: Screening) -> None:
    reasons = result.reasons
    module = exec_problem(problem.source, str(problem.path), device)
    result.bytes = _footprint(module)
    limit = _device_byte_limit(device)
    if result.bytes is not None and result.bytes > limit:
        reasons.append(f"too large for {device}: {result.bytes / 2**30:.1f} GiB of inputs, parameters "
                       f"and outputs (limit {limit / 2**30:.1f} GiB)")
        return  # running it would only exhaust memory

    runs = [instantiate(module, device, seed) for seed in SEEDS]
    outs = [as_tensors(run_forward(model, inputs)) for model, inputs in runs]
    ref = outs[0]
    if not ref:
        reasons.append("forward returns no tensor")
        return
    if not all(_same_shapes(o, ref) for o in outs):
        reasons.append("output shapes differ between seeds")
        return
    if any(t.is_floating_point() and not bool(torch.isfinite(t).all()) for t in ref):
        reasons.append("output has NaN or infinite values")
        return
    peak = max(float(t.abs().max()) if t.numel() else 0.0 for t in ref)
    if peak < TINY_ABS:
        reasons.append(f"output is tiny: max |output| = {peak:.2g} < {TINY_ABS:g}, so zeros would pass")

    _check_trivial(runs[0][1], outs, reasons)
    _check_sensitivity(runs, ref, reasons)
    # Randomness or state in forward makes every call differ; one call disturbed by something else
    # in the process (seen once in CI: 4e-5 on an elementwise forward) leaves two of three alike.
    calls = [ref] + [as_tensors(run_forward(*runs[0])) for _ in range(2)]
    repeat = min(rel_error(calls[i], calls[j]) for i, j in ((0, 1), (0, 2), (1, 2)))
    if repeat > REPEAT_REL:
        reasons.append(f"identical calls differ (relative {repeat:.2g}): randomness or state in forward")
    if numerics and repeat <= REPEAT_REL:  # a random forward has no float64 counterpart to compare with
        _check_numerics(module, device, runs[0], ref, reasons)
    _check_structured(runs[0], reasons)
    if time_it:
        timing = time_eager(*runs[0], device, min_calls=5, budget_s=0.1)
        result.eager_ms = timing.median_ms
        floor = LAUNCH_BOUND_MS.get(device, 0.0)
        if timing.median_ms < floor:
            reasons.append(f"launch-bound on {device}: eager {timing.median_ms:.3g} ms < {floor:g} ms")


def _check_trivial(inputs: list[Any], outs: list[list[torch.Tensor]], reasons: list[str]) -> None:
    """Would a candidate that ignores the computation come within TRIVIAL_REL of the reference?"""
    ref = outs[0]
    candidates: dict[str, list[torch.Tensor]] = {
        "zeros": [torch.zeros_like(t, dtype=torch.float64) for t in ref],
        "a constant (the output's mean)": [torch.full_like(t, float(t.double().mean()), dtype=torch.float64) for t in ref],
    }
    # Another seed's output stands for stale memory from an earlier call, and for "barely changes across seeds".
    closest = min(outs[1:], key=lambda other: rel_error(other, ref))
    candidates["the output for another seed"] = closest
    for i, x in enumerate(inputs):
        if isinstance(x, torch.Tensor) and len(ref) == 1 and x.shape == ref[0].shape:
            candidates[f"input #{i} returned unchanged"] = [x]
    for label, cand in candidates.items():
        err = rel_error(cand, ref)
        if err < TRIVIAL_REL:
            reasons.append(f"trivial candidate passes: {label} is within relative error {err:.2g} "
                           f"(< {TRIVIAL_REL:g}) of the reference")


def _check_structured(run: tuple[torch.nn.Module, list[Any]], reasons: list[str]) -> None:
    """The evaluator's structured trial (constant slices, exact zeros, ties: evaluate/worker/
    structured.py) runs every candidate on such inputs: a reference that raises there fails them all."""
    from kernelswarm.evaluate.worker.structured import structure

    model, inputs = run
    try:
        run_forward(model, [structure(x, 0, i) if isinstance(x, torch.Tensor) else x for i, x in enumerate(inputs)])
    except Exception as e:
        first = str(e).splitlines()[0] if str(e) else ""
        reasons.append(f"fails on structured inputs (constant slices, exact zeros, ties), which the evaluator's "
                       f"structured trial feeds every candidate: {e.__class__.__name__}: {first}"[:300])


def _check_sensitivity(runs: list[tuple[torch.nn.Module, list[Any]]], ref: list[torch.Tensor], reasons: list[str]) -> None:
    """Swap each input for its draw under another seed; the output must move."""
    model, inputs = runs[0]
    others = runs[1][1]
    for i, (x, y) in enumerate(zip(inputs, others)):
        if not isinstance(x, torch.Tensor):
            continue
        swapped = list(inputs)
        swapped[i] = y
        change = rel_error(as_tensors(run_forward(model, swapped)), ref)
        if change < SENSITIVITY_REL:
            reasons.append(f"output does not depend on input #{i} (relative change {change:.2g} "
                           f"when it is redrawn)")


def _check_numerics(module: types.ModuleType, device: str, run: tuple[torch.nn.Module, list[Any]],
                    ref: list[torch.Tensor], reasons: list[str]) -> None:
    """float32 must track float64 at unit scale and at the evaluator's stress scales (1e-2, 1e2)."""
    model32, inputs = run
    model64, _ = instantiate(module, device, SEEDS[0])  # same seed: the same weights, then widened
    model64 = model64.to(torch.float64)
    for scale in STRESS_SCALES:
        scaled = [x * scale if isinstance(x, torch.Tensor) and x.is_floating_point() else x for x in inputs]
        out32 = ref if scale == 1.0 else as_tensors(run_forward(model32, scaled))
        out64 = as_tensors(run_forward(model64, [
            x.to(torch.float64) if isinstance(x, torch.Tensor) and x.is_floating_point() else x for x in scaled]))
        if any(t.is_floating_point() and not bool(torch.isfinite(t).all()) for t in out64 + out32):
            reasons.append(f"output is not finite with inputs scaled by {scale:g}")
            continue
        err = rel_error(out32, out64)
        if err > NUMERIC_REL:
            reasons.append(f"ill-conditioned in float32: relative error {err:.2g} against float64 "
                           f"with inputs scaled by {scale:g}")


def screen_all(problems: list[Problem], device: str = "cpu", time_it: bool = True) -> list[Screening]:
    return [screen(p, device, time_it) for p in problems]
