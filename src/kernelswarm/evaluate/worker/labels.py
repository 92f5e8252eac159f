"""Labelling what actually ran: the candidate's own kernels, or PyTorch's.

A candidate is a `custom-kernel` when kernels it defines itself did a real share of the work
in a profiled call, not when its source merely contains one (a decoy kernel that is built but
never launched leaves the label at `pytorch-rewrite`).
"""

from __future__ import annotations

import contextlib
import re
import sys
import time
import types
from collections.abc import Iterator
from typing import Any

import torch

# The candidate's own kernels must account for at least this share of the profiled work. On CUDA
# the share is of kernel time, measured cleanly, and a custom epilogue next to a library GEMM is a
# real contribution. On the CPU it is the self time of the candidate's extension calls, which also
# holds binding and profiler overhead, so only a majority of the work counts.
MIN_CUSTOM_SHARE = {"cuda": 0.10, "cpu": 0.50, "mps": 0.10}

_TRITON_DEF = re.compile(r"@triton\.(?:jit|autotune|heuristics)[^\n]*\n(?:\s*@[^\n]*\n)*\s*def\s+(\w+)")
_CUDA_GLOBAL = re.compile(r"__global__\s+(?:__launch_bounds__\s*\([^)]*\)\s*)?(?:static\s+)?(?:void)\s+(?:__launch_bounds__\s*\([^)]*\)\s*)?(\w+)")


def kernel_names(source: str) -> set[str]:
    """Names of Triton and CUDA kernels the candidate's source defines."""
    return set(_TRITON_DEF.findall(source)) | set(_CUDA_GLOBAL.findall(source))


class ExtensionTracer:
    """Wraps modules returned by cpp_extension.load_inline/load so their calls show in the profiler.

    Installed before the candidate is imported; it only names ranges while `active` is set,
    during the labelling call, so it changes neither results nor timed calls. Otherwise it counts
    the calls (`calls`): the worker notes which timed calls called the extension at all, since a
    candidate can see the profiler and run its kernel only under it (cheat/profiler_launder; on
    CUDA, with its Triton kernels' launches and its CuPy kernels' calls too:
    cheat/profiler_launder_cuda, cheat/profiler_launder_cupy). On a CPU, where an
    extension call is its work, it also sums the time spent inside those calls (`ext_ns`): a
    candidate that runs its kernel on a sliver in each timed call, and on all of it only while
    the profiler records, called its extension in every timed call (cheat/decoy_sliver).
    """

    def __init__(self) -> None:
        self.active = False
        self.calls = 0
        self.ext_ns = 0  # wall time inside the candidate's extension calls outside the profiler (CPU)
        self.loaded = 0  # extension modules wrapped and Triton kernels watched: what `calls` can count
        import torch.utils.cpp_extension as ce

        self._ce = ce
        for name in ("load_inline", "load"):
            original = getattr(ce, name)
            setattr(ce, name, self._wrap_loader(original, name))

    def _wrap_loader(self, loader: Any, name: str) -> Any:
        tracer = self

        def load(*args: Any, **kwargs: Any) -> Any:
            try:
                module = loader(*args, **kwargs)
            except BaseException as e:
                # A candidate that catches this and falls back to PyTorch would leave no trace of
                # why its extension never ran: the worker's log (kept with the evaluation) says it.
                sys.stderr.write(f"[kernelswarm] cpp_extension.{name} failed: {type(e).__name__}: {str(e)[-3000:]}\n")
                raise
            if not isinstance(module, types.ModuleType):
                return module
            tracer.loaded += 1
            return _TracedModule(module, tracer)

        load.__wrapped__ = loader
        return load

    def watch_triton(self, module: types.ModuleType) -> None:
        """After the candidate's import, on a GPU: count launches of its own Triton kernels (those
        its module defines) the same way: a Triton kernel run only under the profiler was labelled
        a custom kernel on CUDA, where the profile alone decided (cheat/profiler_launder_triton).
        `JITFunction.run` is what `kernel[grid](...)` and an autotuner call; a kernel launched some
        other way is not counted, and its candidate labelled by the timed calls as PyTorch's."""
        jit = sys.modules.get("triton.runtime.jit")
        cls = getattr(jit, "JITFunction", None)
        if cls is None:
            return
        own = [v for v in vars(module).values() if isinstance(v, cls) or isinstance(getattr(v, "fn", None), cls)]
        if not own or getattr(cls.run, "_ks_counted", False):
            return
        tracer, original, name = self, cls.run, module.__name__

        def run(kernel: Any, *args: Any, **kwargs: Any) -> Any:
            if not tracer.active and getattr(getattr(kernel, "fn", None), "__module__", None) == name:
                tracer.calls += 1
            return original(kernel, *args, **kwargs)

        run._ks_counted = True  # type: ignore[attr-defined]
        cls.run = run
        self.loaded += 1


    def watch_cupy(self, module: types.ModuleType) -> None:
        """After the candidate's import, on a GPU: count calls of the CuPy kernels its module holds
        (RawKernel, ElementwiseKernel, ReductionKernel, a RawModule's functions: callables of
        CuPy's own types at module level), each replaced there by a counting stand-in. CuPy's
        kernel classes cannot be patched, and a candidate with only CuPy kernels was labelled by
        its profile alone: one that launched its kernel only under the profiler was a custom
        kernel (cheat/profiler_launder_cupy). A kernel kept elsewhere (made inside ModelNew) is
        not counted, and a candidate with nothing counted keeps its profile's label."""
        found = {name: v for name, v in vars(module).items()
                 if type(v).__name__ in _CUPY_KERNELS and (type(v).__module__ or "").split(".")[0] == "cupy"}
        for name, kernel in found.items():
            setattr(module, name, _CountedKernel(kernel, self))
        self.loaded += len(found)


# CuPy's types of kernels a candidate writes itself (not its ufuncs: `cupy.sqrt` is CuPy's own).
_CUPY_KERNELS = {"RawKernel", "ElementwiseKernel", "ReductionKernel", "Function", "Fusion", "_JitRawKernel"}


class _CountedKernel:
    """A CuPy kernel that counts its calls outside the profiled one (ExtensionTracer.watch_cupy)."""

    def __init__(self, kernel: Any, tracer: ExtensionTracer) -> None:
        object.__setattr__(self, "_kernel", kernel)
        object.__setattr__(self, "_tracer", tracer)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self._tracer.active:
            self._tracer.calls += 1
        return self._kernel(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._kernel, name)


class _TracedModule:
    def __init__(self, module: types.ModuleType, tracer: ExtensionTracer) -> None:
        object.__setattr__(self, "_module", module)
        object.__setattr__(self, "_tracer", tracer)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._module, name)
        if not callable(value) or name.startswith("__"):
            return value
        tracer = self._tracer

        def call(*args: Any, **kwargs: Any) -> Any:
            if not tracer.active:
                tracer.calls += 1
                start = time.perf_counter_ns()
                try:
                    return value(*args, **kwargs)
                finally:
                    tracer.ext_ns += time.perf_counter_ns() - start
            with torch.profiler.record_function(f"ks_ext::{name}"):
                return value(*args, **kwargs)

        return call


def profile_call(fn: Any, device: torch.device, names: set[str], tracer: ExtensionTracer | None) -> tuple[float, list[str]]:
    """Run fn once under the profiler; return (custom share of the work, names of what ran)."""
    from torch.profiler import ProfilerActivity, profile, schedule

    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    if tracer is not None:
        tracer.active = True
    try:
        # The first profiled step carries the profiler's own start-up cost: record it as warm-up only.
        prof = profile(activities=activities, schedule=schedule(wait=0, warmup=1, active=2, repeat=1))
        with inductor_unloaded():
            prof.__enter__()
        try:
            for _ in range(3):
                fn()
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                prof.step()
        finally:
            prof.__exit__(None, None, None)
    finally:
        if tracer is not None:
            tracer.active = False
    averages = prof.key_averages()
    if device.type == "cuda":
        kernels = [(e.key, _device_time(e)) for e in averages if _is_device_event(e)]
        total = sum(t for _, t in kernels)
        custom = sum(t for k, t in kernels if any(re.search(rf"\b{re.escape(n)}\b", k) for n in names))
        ran = [k for k, _ in sorted(kernels, key=lambda kt: -kt[1])]
        return (custom / total if total > 0 else 0.0), ran[:20]
    events = [(e.key, float(e.self_cpu_time_total)) for e in averages if not e.key.startswith("ProfilerStep")]
    total = sum(t for _, t in events)
    # Only calls into the candidate's own extension modules count: library operators in other
    # namespaces (mkldnn::, quantized::, inductor's kernels) are not the candidate's kernels.
    custom = sum(t for k, t in events if k.startswith("ks_ext::"))
    ran = [k for k, _ in sorted(events, key=lambda kt: -kt[1])]
    return (custom / total if total > 0 else 0.0), ran[:20]


@contextlib.contextmanager
def inductor_unloaded() -> Iterator[None]:
    """The profiler's start asks `hasattr(torch, "_inductor")`, which imports torch._inductor
    (torch's lazy submodules) only to read whether inductor's CUDA graphs are on: 5.5 s of a
    first profiled call's 5.5 on a 2-core CPU (a candidate's label took 4.4-5.9 s there, 5-6 s on
    the H200). Where nothing imported inductor, nothing compiled with it and its CUDA graphs are
    off (the profiler's own default): the attribute reads as absent while the profiler starts,
    and only then (the candidate's calls that follow see torch as it was)."""
    if "torch._inductor" in sys.modules:
        yield
        return
    lazy = torch.__dict__.get("__getattr__")

    def lookup(name: str) -> Any:
        if name == "_inductor" or lazy is None:
            raise AttributeError(name)
        return lazy(name)

    torch.__getattr__ = lookup  # type: ignore[attr-defined]
    try:
        yield
    finally:
        if lazy is None:
            del torch.__getattr__
        else:
            torch.__getattr__ = lazy  # type: ignore[attr-defined]


def _is_device_event(e: Any) -> bool:
    return str(getattr(e, "device_type", "")).endswith("CUDA")


def _device_time(e: Any) -> float:
    for attr in ("self_device_time_total", "self_cuda_time_total", "device_time_total"):
        value = getattr(e, attr, None)
        if value:
            return float(value)
    return 0.0
