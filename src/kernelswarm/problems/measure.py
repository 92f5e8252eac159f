"""What a problem costs: input shapes, FLOPs, the minimum bytes it must move, and its eager time.

Runs the problem in this process: problems are the user's own trusted code (candidates never are).
Without a device, the counts come from the meta device at the sizes the file is written with, so
listing a suite sized for an H100 allocates nothing.
"""

from __future__ import annotations

import contextlib
import time
import types
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch
from torch.utils.flop_counter import FlopCounterMode

from kernelswarm.problems.load import Problem, exec_problem
from kernelswarm.records import Timing

# Eager timing: enough calls for a stable median without making `problems list` slow.
_WARMUP_S = 0.05
_MIN_CALLS = 10
_MAX_CALLS = 100
_BUDGET_S = 1.0


@dataclass
class Measurement:
    """Static and measured costs of one problem at one size preset."""

    name: str
    level: int | None
    hash: str
    device: str  # where it ran: "meta" (counts only) or a backend name
    preset: str  # which KERNELSWARM_SIZES entry applied; "" for the sizes as written
    input_shapes: list[list[int]] = field(default_factory=list)  # one per tensor input
    output_shapes: list[list[int]] = field(default_factory=list)
    flops: int | None = None  # matmul/convolution FLOPs counted by FlopCounterMode
    min_bytes: int | None = None  # every input, parameter, buffer and output touched once
    eager: Timing | None = None  # eager forward time, when measured on a real device
    error: str = ""  # one line, when the problem failed to run

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "level": self.level, "hash": self.hash, "device": self.device,
            "preset": self.preset, "input_shapes": self.input_shapes, "output_shapes": self.output_shapes,
            "flops": self.flops, "min_bytes": self.min_bytes,
            "eager_ms": self.eager.median_ms if self.eager else None, "error": self.error,
        }


@contextlib.contextmanager
def strict_fp32() -> Iterator[None]:
    """TF32 off for matmuls and convolutions, as in the evaluator's reference; restored after."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def instantiate(module: types.ModuleType, device: str, seed: int = 0) -> tuple[torch.nn.Module, list[Any]]:
    """Build Model and inputs from an executed problem module, seeded, on `device` ("meta" allocates nothing)."""
    torch.manual_seed(seed)
    if device == "meta":
        with torch.device("meta"):
            return module.Model(*module.get_init_inputs()), list(module.get_inputs())
    model = module.Model(*module.get_init_inputs()).to(device)
    inputs = [x.to(device) if isinstance(x, torch.Tensor) else x for x in module.get_inputs()]
    return model, inputs


def as_tensors(output: Any) -> list[torch.Tensor]:
    """A forward's output as a flat list of tensors (one tensor, or a tuple/list of them)."""
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, (tuple, list)):
        return [t for o in output for t in as_tensors(o)]
    return []


def run_forward(model: torch.nn.Module, inputs: list[Any]) -> Any:
    with torch.no_grad():
        return model(*inputs)


def count_flops(model: torch.nn.Module, inputs: list[Any]) -> tuple[int, Any]:
    """(FLOPs of one forward, its output). Counts matmuls and convolutions, as FlopCounterMode does."""
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        output = model(*inputs)
    return int(counter.get_total_flops()), output


def tensor_bytes(tensors: list[torch.Tensor]) -> int:
    """Bytes of distinct tensors (the same memory passed twice counts once; meta tensors by identity)."""
    seen: set[Any] = set()
    total = 0
    for t in tensors:
        key = id(t) if t.device.type == "meta" else (t.data_ptr(), t.numel(), t.dtype)
        if key not in seen:
            seen.add(key)
            total += t.numel() * t.element_size()
    return total


def min_bytes(model: torch.nn.Module, inputs: list[Any], outputs: list[torch.Tensor]) -> int:
    """The least traffic any implementation needs: read each input, parameter and buffer, write each output."""
    state = list(model.parameters()) + list(model.buffers())
    return tensor_bytes([x for x in inputs if isinstance(x, torch.Tensor)] + state + outputs)


def time_eager(model: torch.nn.Module, inputs: list[Any], device: str,
               min_calls: int = _MIN_CALLS, budget_s: float = _BUDGET_S) -> Timing:
    """Median-based timing of the eager forward under the backend's protocol (flush, synchronize)."""
    from kernelswarm.backends import get_backend

    backend = get_backend(device)

    def call() -> Any:
        with torch.no_grad():
            return model(*inputs)

    start = time.perf_counter()
    call()  # first call pays one-time costs (allocator, kernel selection)
    backend.synchronize()
    while time.perf_counter() - start < _WARMUP_S:
        call()
        backend.synchronize()
    samples: list[float] = []
    start = time.perf_counter()
    while len(samples) < _MAX_CALLS and (len(samples) < min_calls or time.perf_counter() - start < budget_s):
        backend.flush_cache()
        ms, _ = backend.time_call(call)
        samples.append(ms)
    return Timing.from_samples(samples)


def measure(problem: Problem, device: str | None = None, time_it: bool = True) -> Measurement:
    """Shapes, FLOPs and minimum bytes of a problem; with a device, at its preset there and timed.

    Never raises for a problem that fails to run: the failure is recorded in `error`. A problem
    that cannot run on the meta device (data-dependent shapes) is counted at its CPU preset instead.
    """
    with strict_fp32():
        m = _measure(problem, device, time_it)
        if m.error and device is None and "cpu" in problem.sizes:
            fallback = _measure(problem, "cpu", time_it=False)
            if not fallback.error:
                return fallback
    return m


def _measure(problem: Problem, device: str | None, time_it: bool) -> Measurement:
    preset = device or ""
    run_on = device or "meta"
    m = Measurement(problem.name, problem.level, problem.hash, run_on, preset if preset in problem.sizes else "")
    try:
        module = exec_problem(problem.source, str(problem.path), preset)
        model, inputs = instantiate(module, run_on)
        m.input_shapes = [list(x.shape) for x in inputs if isinstance(x, torch.Tensor)]
        m.flops, output = count_flops(model, inputs)
        outputs = as_tensors(output)
        m.output_shapes = [list(t.shape) for t in outputs]
        m.min_bytes = min_bytes(model, inputs, outputs)
        del output, outputs
        if m.flops == 0 and run_on != "meta":
            # Fused library kernels (cuDNN/oneDNN RNNs) hide their matmuls from the counter; on
            # the meta device the same module decomposes into countable ops.
            try:
                meta_model, meta_inputs = instantiate(module, "meta")
                m.flops, _ = count_flops(meta_model, meta_inputs)
            except Exception:
                pass  # the count from the real device stands
        if device and time_it:
            m.eager = time_eager(model, inputs, device)
    except Exception as e:  # a broken problem is reported, never aborts a listing
        m.error = f"{e.__class__.__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]
    return m

