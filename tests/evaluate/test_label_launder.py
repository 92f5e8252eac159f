"""A custom kernel's label needs the kernel in the timed calls, not only under the profiler
(cheat/profiler_launder runs its C++ loop only while profiled)."""

from __future__ import annotations

import types

from kernelswarm.evaluate.parent import run, timing
from kernelswarm.evaluate.parent.devicelock import NO_LOCK
from kernelswarm.evaluate.parent.options import EvalOptions
from kernelswarm.evaluate.worker.labels import ExtensionTracer, _TracedModule
from kernelswarm.records import Kind, Timing


def test_the_tracer_counts_calls_outside_the_profiled_one() -> None:
    tracer = object.__new__(ExtensionTracer)  # its loaders left alone: nothing patched here
    tracer.active, tracer.calls = False, 0
    ext = types.ModuleType("ext")
    ext.twice = lambda x: 2 * x
    traced = _TracedModule(ext, tracer)
    assert traced.twice(3) == 6 and tracer.calls == 1
    tracer.active = True  # the profiled call: named in the profiler, not counted
    assert traced.twice(4) == 8 and tracer.calls == 1


def _kind(share: float, timed_share: float | None) -> tuple[Kind, str]:
    st = run._State(EvalOptions.for_device("cpu"), NO_LOCK, 0.0)
    ct = timing.CandidateTiming(Timing.from_samples([1.0]), custom_share=share, ran=["ks_ext::relu_linear"],
                                timed_ext_share=timed_share)
    kind = run._label(st, ct)
    return kind, st.checks[-1].detail


def test_a_kernel_that_ran_only_under_the_profiler_is_not_a_custom_kernel() -> None:
    assert _kind(0.95, 1.0)[0] is Kind.CUSTOM_KERNEL
    assert _kind(0.95, None)[0] is Kind.CUSTOM_KERNEL  # not counted (a GPU): the profile decides
    kind, detail = _kind(0.95, 0.0)
    assert kind is Kind.PYTORCH_REWRITE and "0% of the timed calls" in detail
    assert _kind(0.1, 1.0)[0] is Kind.PYTORCH_REWRITE
