"""Capture: run the user's model once at the example inputs and record, for each region, how it
was called (structure, tensors, outputs) and whether it changed its buffers; then time each
region's share of the model's time.

Regions are cut at nn.Module boundaries: the largest sub-modules whose children are leaves (a
repeated block's attention, MLP and norms; a convolution block with its epilogues). Containers
(ModuleList, Sequential, ModuleDict) do not count as a level, so a stage of blocks is cut into its
blocks' sub-layers. See docs in optimize/__init__.py.
"""

from __future__ import annotations

import statistics
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from kernelswarm.optimize.runtime import KsUnsupported, ks_structure

# Modules that compute nothing worth a task (at inference).
_TRIVIAL = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)
_CONTAINERS = (nn.ModuleList, nn.ModuleDict, nn.Sequential)


class CaptureError(ValueError):
    """The model cannot be captured at these inputs at all; one line."""


@dataclass
class RegionCall:
    """One region's first call, as captured: structures and the tensors in them (on the device)."""

    inputs: tuple  # runtime structure of ([args], {kwargs})
    tensors: list[torch.Tensor]
    outputs: tuple  # runtime structure of the output
    out_tensors: list[torch.Tensor]
    training: bool
    grads: list[bool] = field(default_factory=list)  # per input tensor: whether it required a gradient (train mode)


@dataclass
class Region:
    """A sub-module of the model that may become (part of) a task."""

    path: str  # dotted path in the model ("" is the model itself)
    module: nn.Module
    calls: int = 0
    call: RegionCall | None = None
    refused: str = ""  # why it cannot be a task ("" when it can)
    ms: float = 0.0  # measured time per model forward
    share: float = 0.0  # of the model's time

    @property
    def class_name(self) -> str:
        return type(self.module).__qualname__


@dataclass
class Capture:
    """The model at its example inputs: regions, the model's time, and what could not be cut."""

    model_class: str
    regions: list[Region]
    model_ms: float
    device: str
    capture_s: float = 0.0
    notes: list[str] = field(default_factory=list)
    train: bool = False  # captured for training: regions' calls carry which inputs need gradients


def height(m: nn.Module) -> int:
    """Levels of modules below m; containers are transparent."""
    kids = list(m.children())
    if not kids:
        return 0
    h = max(height(c) for c in kids)
    return h if isinstance(m, _CONTAINERS) else h + 1


def find_regions(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The largest sub-modules of height at most one (leaves, or modules made of leaves)."""
    out: list[tuple[str, nn.Module]] = []

    def walk(m: nn.Module, path: str) -> None:
        # A Sequential of blocks (a ResNet stage) is cut into its blocks, so identical ones
        # become one task; a Sequential of leaves (conv, norm, activation) stays whole.
        blocks = _has_blocks(m)
        if height(m) <= 1 and not isinstance(m, (nn.ModuleList, nn.ModuleDict)) and not blocks:
            if not isinstance(m, _TRIVIAL):
                out.append((path, m))
            return
        for name, c in m.named_children():
            walk(c, f"{path}.{name}" if path else name)

    walk(model, "")
    return out


def _has_blocks(m: nn.Module) -> bool:
    """A container holding several blocks (modules with children), itself or in a container."""
    if not isinstance(m, _CONTAINERS):
        return False
    kids = list(m.children())
    return sum(height(c) >= 1 for c in kids) >= 2 or any(_has_blocks(c) for c in kids)


def _detach(ts: list[torch.Tensor]) -> list[torch.Tensor]:
    return [t.detach().clone() for t in ts]


def record(model: nn.Module, example_inputs: tuple, regions: list[Region], train: bool = False) -> Any:
    """Run the model once with hooks on every region; returns the model's output. `train`: with
    autograd on, so that each region's call records which inputs need gradients."""
    handles = []
    before: dict[int, list[torch.Tensor]] = {}

    def pre(region: Region):
        def hook(module, args, kwargs):
            region.calls += 1
            if region.calls > 1 or region.refused:
                return None
            before[id(region)] = [b.detach().clone() for b in module.buffers()]
            tensors: list[torch.Tensor] = []
            try:
                structure = ks_structure((list(args), dict(kwargs)), tensors)
            except KsUnsupported as e:
                region.refused = f"takes {e} as input"
                return None
            region.call = RegionCall(structure, _detach(tensors), ("C", None), [], module.training,
                                     [t.requires_grad and t.is_floating_point() for t in tensors])
            return None
        return hook

    def post(region: Region):
        def hook(module, args, kwargs, output):
            if region.calls > 1 or region.refused or region.call is None:
                return None
            after = [b.detach() for b in module.buffers()]
            if any(a.shape != b.shape or not torch.equal(a, b) for a, b in zip(before.pop(id(region), []), after)):
                region.refused = "its forward updates its buffers (batch-norm statistics in training mode, a cache)"
                return None
            tensors: list[torch.Tensor] = []
            try:
                region.call.outputs = ks_structure(output, tensors)
            except KsUnsupported as e:
                region.refused = f"returns {e}"
                return None
            if not tensors:
                region.refused = "returns no tensor"
            region.call.out_tensors = _detach(tensors)
            return None
        return hook

    for r in regions:
        handles.append(r.module.register_forward_pre_hook(pre(r), with_kwargs=True))
        handles.append(r.module.register_forward_hook(post(r), with_kwargs=True))
    try:
        with torch.set_grad_enabled(train):
            return model(*example_inputs)
    except Exception as e:
        text = str(e).strip().splitlines()
        raise CaptureError(f"the model fails on the example inputs: {type(e).__name__}: "
                           f"{text[0] if text else ''}"[:300]) from None
    finally:
        for h in handles:
            h.remove()


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _call(model: nn.Module, example_inputs: tuple, train: bool) -> None:
    """One forward (train: under autograd, then a backward from ones on every output that needs it)."""
    with torch.set_grad_enabled(train):
        out = model(*example_inputs)
    if train:
        tensors: list[torch.Tensor] = []
        try:
            ks_structure(out if not hasattr(out, "to_tuple") else out.to_tuple(), tensors)
        except KsUnsupported:
            tensors = []
        outs = [t for t in tensors if t.requires_grad]
        if outs:
            torch.autograd.backward(outs, [torch.ones_like(t) for t in outs])
        model.zero_grad(set_to_none=True)


def time_model(model: nn.Module, example_inputs: tuple, device: str, min_s: float = 0.3, reps: int = 3,
               train: bool = False) -> float:
    """Median milliseconds of one forward (train: forward and backward), after one warm-up call."""
    samples: list[float] = []
    _call(model, example_inputs, train)
    start = time.perf_counter()
    while len(samples) < reps or (time.perf_counter() - start < min_s and len(samples) < 50):
        _sync(device)
        t = time.perf_counter()
        _call(model, example_inputs, train)
        _sync(device)
        samples.append((time.perf_counter() - t) * 1e3)
    return statistics.median(samples)


def time_regions(model: nn.Module, example_inputs: tuple, regions: list[Region], device: str, reps: int = 5,
                 train: bool = False) -> None:
    """Each region's milliseconds per model forward (its calls summed) and its share of that
    forward, medians over `reps` forwards timed with hooks that synchronize the device around each
    call. Shares come from the same forwards as the regions' times, so a machine whose speed
    changes between measurements (a busy CPU) does not skew them. `train`: forward plus backward,
    each region's backward timed by backward hooks (a region none of whose inputs needs a gradient
    counts its forward only)."""
    per_rep: dict[int, list[float]] = {id(r): [] for r in regions}
    shares: dict[int, list[float]] = {id(r): [] for r in regions}
    current: dict[int, float] = {}
    started: dict[object, float] = {}
    handles = []

    def begin(key: object) -> None:
        _sync(device)
        started[key] = time.perf_counter()

    def end(key: object, rid: int) -> None:
        _sync(device)
        t0 = started.pop(key, None)
        if t0 is not None:
            current[rid] = current.get(rid, 0.0) + (time.perf_counter() - t0) * 1e3

    for r in regions:
        rid = id(r)
        handles += [r.module.register_forward_pre_hook(lambda m, a, rid=rid: begin(rid)),
                    r.module.register_forward_hook(lambda m, a, o, rid=rid: end(rid, rid))]
        if train:
            handles += [r.module.register_full_backward_pre_hook(lambda m, g, rid=rid: begin(("b", rid))),
                        r.module.register_full_backward_hook(lambda m, gi, go, rid=rid: end(("b", rid), rid))]
    try:
        with warnings.catch_warnings():
            # (a region none of whose inputs needs a gradient gets its backward hooks at once: said, not warned)
            warnings.filterwarnings("ignore", message="Full backward hook is firing", category=UserWarning)
            _call(model, example_inputs, train)  # warm-up
            for _ in range(reps):
                current.clear()
                _sync(device)
                t = time.perf_counter()
                _call(model, example_inputs, train)
                _sync(device)
                total = (time.perf_counter() - t) * 1e3
                for r in regions:
                    per_rep[id(r)].append(current.get(id(r), 0.0))
                    shares[id(r)].append(current.get(id(r), 0.0) / total if total > 0 else 0.0)
    finally:
        for h in handles:
            h.remove()
    for r in regions:
        r.ms = statistics.median(per_rep[id(r)])
        r.share = statistics.median(shares[id(r)])


def random_in_training(m: nn.Module) -> str:
    """Why a region's training forward is random ('' when it is not): a dropout that is on."""
    for name, sub in m.named_modules():
        p = getattr(sub, "p", 0.0) if isinstance(sub, _TRIVIAL) else 0.0
        if sub.training and isinstance(p, float) and p > 0.0:
            return (f"its training forward is random ({type(sub).__name__} p={p:g} at {name or 'itself'}): "
                    "set dropout to 0 to verify it in training mode")
    return ""


def capture(model: nn.Module, example_inputs: tuple, device: str, train: bool = False) -> Capture:
    """Regions of `model` (already on `device`) with their calls and time shares. `train`: for
    training mode (the model's own train/eval state is kept; calls record their inputs' gradients)."""
    t0 = time.monotonic()
    if not isinstance(example_inputs, tuple):
        example_inputs = tuple(example_inputs) if isinstance(example_inputs, list) else (example_inputs,)
    regions = [Region(p, m) for p, m in find_regions(model)]
    if train:
        for r in regions:
            r.refused = random_in_training(r.module)
    record(model, example_inputs, regions, train)
    called = [r for r in regions if r.calls]
    notes = []
    try:
        model_ms = time_model(model, example_inputs, device, train=train)
        time_regions(model, example_inputs, called, device, train=train)
    except RuntimeError as e:  # backward hooks refuse some models (an output changed in place)
        if not train:
            raise
        notes.append(f"shares are of the forward alone: the backward could not be timed per region ({e})"[:300])
        model_ms = time_model(model, example_inputs, device)
        time_regions(model, example_inputs, called, device)
    cap = Capture(type(model).__qualname__, called, model_ms, device, notes=notes, train=train)
    cap.capture_s = time.monotonic() - t0
    return cap
