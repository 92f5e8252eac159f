"""A custom kernel's label needs the kernel in the timed calls, not only under the profiler
(cheat/profiler_launder runs its C++ loop only while profiled)."""

from __future__ import annotations

import time
import types

from kernelswarm.evaluate.parent import acceptance, timing
from kernelswarm.evaluate.parent.state import State
from kernelswarm.evaluate.parent.devicelock import NO_LOCK
from kernelswarm.evaluate.parent.options import EvalOptions
from kernelswarm.evaluate.worker.labels import ExtensionTracer, _TracedModule
from kernelswarm.records import Kind, Timing


def test_the_tracer_counts_calls_outside_the_profiled_one() -> None:
    tracer = object.__new__(ExtensionTracer)  # its loaders left alone: nothing patched here
    tracer.active, tracer.calls, tracer.ext_ns = False, 0, 0
    ext = types.ModuleType("ext")
    ext.twice = lambda x: 2 * x
    ext.slow = lambda: time.sleep(0.02)
    traced = _TracedModule(ext, tracer)
    assert traced.twice(3) == 6 and tracer.calls == 1
    traced.slow()  # the time inside its calls is summed too (on a CPU, the timed calls' share)
    assert tracer.calls == 2 and tracer.ext_ns >= 20e6
    tracer.active = True  # the profiled call: named in the profiler, not counted
    spent = tracer.ext_ns
    assert traced.twice(4) == 8 and tracer.calls == 2 and tracer.ext_ns == spent


def _kind(share: float, timed_share: float | None, **fields) -> tuple[Kind, str]:
    st = State(EvalOptions.for_device("cpu"), NO_LOCK, 0.0)
    ct = timing.CandidateTiming(Timing.from_samples([1.0]), custom_share=share, ran=["ks_ext::relu_linear"],
                                timed_ext_share=timed_share, **fields)
    kind = acceptance.label(st, ct)
    return kind, st.checks[-1].detail


def test_a_kernel_that_ran_only_under_the_profiler_is_not_a_custom_kernel() -> None:
    assert _kind(0.95, 1.0)[0] is Kind.CUSTOM_KERNEL
    assert _kind(0.95, None)[0] is Kind.CUSTOM_KERNEL  # not counted (a GPU): the profile decides
    kind, detail = _kind(0.95, 0.0)
    assert kind is Kind.PYTORCH_REWRITE and "in only 0% of the timed calls" in detail
    assert _kind(0.1, 1.0)[0] is Kind.PYTORCH_REWRITE


def test_a_kernel_on_a_sliver_of_the_timed_calls_is_not_a_custom_kernel() -> None:
    """Called in every timed call but on a sliver of it (cheat/decoy_sliver): the share of the
    timed calls' time inside its extension decides on a CPU."""
    assert _kind(0.95, 1.0, timed_ext_time_share=0.9)[0] is Kind.CUSTOM_KERNEL
    kind, detail = _kind(0.95, 1.0, timed_ext_time_share=0.2)
    assert kind is Kind.PYTORCH_REWRITE and "20% of the timed calls' time" in detail


def test_the_parents_samples_decide_over_the_workers_word() -> None:
    """Whatever the worker reports (cheat/label_forge_decoy forges every field), the parent's own
    samples of the timed calls (ipsample) decide; a worker that refused them gets no label."""
    from kernelswarm.evaluate.parent.ipsample import Samples

    def sampled(own: float, total: int = 200) -> dict:
        return {"ip_samples": Samples({"/w/x.so": total}, sampled_ns=1, cpu_ns=1), "ip_own_share": own}

    assert _kind(0.97, 1.0, timed_ext_time_share=1.0, **sampled(0.8))[0] is Kind.CUSTOM_KERNEL
    kind, detail = _kind(0.97, 1.0, timed_ext_time_share=1.0, **sampled(0.09))
    assert kind is Kind.PYTORCH_REWRITE and "9% of its timed calls' CPU time" in detail
    assert _kind(0.97, 1.0, **sampled(0.09, total=5))[0] is Kind.CUSTOM_KERNEL  # too few samples to say
    # Few samples, but the threads sampled ran a sliver of a finding's worth of CPU time: a thread
    # started inside each call did the rest (cheat/label_thread_hide), whatever the samples say.
    hidden = Samples({"/w/x.so": 6}, sampled_ns=3_000_000, cpu_ns=60_000_000)
    kind, detail = _kind(0.97, 1.0, timed_ext_time_share=1.0, ip_samples=hidden, ip_own_share=hidden.share({"/w/x.so"}))
    assert kind is Kind.PYTORCH_REWRITE and "ran 5% of its timed calls' 60.0 ms of CPU time (6 samples)" in detail
    shown = Samples({"/w/x.so": 6}, sampled_ns=3_000_000, cpu_ns=3_100_000)  # all of it sampled: too little to say
    assert _kind(0.97, 1.0, ip_samples=shown, ip_own_share=shown.share({"/w/x.so"}))[0] is Kind.CUSTOM_KERNEL
    kind, detail = _kind(0.97, 1.0, ip_blocked=True, ip_note="its worker refused the evaluator's sampling")
    assert kind is Kind.PYTORCH_REWRITE and "nothing vouches" in detail
    assert _kind(0.97, 1.0, ip_note="not sampled (perf events not permitted)")[0] is Kind.CUSTOM_KERNEL


def test_a_forged_label_reply_without_a_kernel_in_the_source_is_pytorch() -> None:
    """The label reply comes from the candidate's process (cheat/label_forge rewrites it): the
    parent's own reading of the source must find a kernel too."""
    st = State(EvalOptions.for_device("cpu"), NO_LOCK, 0.0)
    ct = timing.CandidateTiming(Timing.from_samples([1.0]), custom_share=0.97, ran=["ks_ext::relu_linear"],
                                timed_ext_share=1.0)
    plain = "import torch\nclass ModelNew(torch.nn.Module):\n    def forward(self, x):\n        return torch.relu(x)\n"
    assert acceptance.label(st, ct, plain) is Kind.PYTORCH_REWRITE
    assert "defines and builds no kernel" in st.checks[-1].detail
    built = "from torch.utils.cpp_extension import load_inline\n_e = load_inline(name='e', cpp_sources='', functions=[])\n"
    assert acceptance.label(st, ct, built) is Kind.CUSTOM_KERNEL
    assert acceptance.label(st, ct, "import triton\n@triton.jit\ndef k(x):\n    pass\n") is Kind.CUSTOM_KERNEL


def test_the_tracer_counts_the_candidates_own_triton_launches(monkeypatch) -> None:
    """On CUDA the candidate's Triton kernels are counted per timed call (cheat/profiler_launder_triton);
    a Triton kernel of another module (inductor's) is not."""
    import sys

    class JITFunction:  # the shape of triton.runtime.jit.JITFunction that the tracer relies on
        def __init__(self, fn):
            self.fn = fn

        def run(self, *args, grid=None, warmup=False, **kwargs):
            return ("ran", args, grid)

    jit = types.ModuleType("triton.runtime.jit")
    jit.JITFunction = JITFunction
    monkeypatch.setitem(sys.modules, "triton.runtime.jit", jit)
    cand = types.ModuleType("kernelswarm_candidate")
    exec("def relu_kernel(x):\n    pass\n", cand.__dict__)
    cand.relu_kernel = JITFunction(cand.relu_kernel)
    other = types.ModuleType("inductor_kernels")
    exec("def fused(x):\n    pass\n", other.__dict__)
    theirs = JITFunction(other.fused)

    tracer = object.__new__(ExtensionTracer)  # its loaders left alone: nothing patched here
    tracer.active, tracer.calls, tracer.loaded = False, 0, 0
    original = JITFunction.run
    try:
        tracer.watch_triton(cand)
        assert tracer.loaded == 1
        assert cand.relu_kernel.run(1, grid=(1,)) == ("ran", (1,), (1,)) and tracer.calls == 1
        theirs.run(2, grid=(1,))
        assert tracer.calls == 1, "another module's Triton kernel is not the candidate's"
        tracer.active = True  # the profiled call: not counted
        cand.relu_kernel.run(3, grid=(1,))
        assert tracer.calls == 1
    finally:
        JITFunction.run = original


def test_no_share_is_reported_where_nothing_could_be_counted(monkeypatch) -> None:
    """A candidate whose kernels the tracer cannot count (CuPy's, with Triton imported by torch
    all the same) is labelled by its profile, not as never called: the worker reports
    timed_ext_share only where an extension or a Triton kernel of its own was watched."""
    import sys

    class JITFunction:
        def run(self, *args, **kwargs):
            return None

    jit = types.ModuleType("triton.runtime.jit")
    jit.JITFunction = JITFunction
    monkeypatch.setitem(sys.modules, "triton.runtime.jit", jit)
    tracer = object.__new__(ExtensionTracer)
    tracer.active, tracer.calls, tracer.loaded = False, 0, 0
    cand = types.ModuleType("kernelswarm_candidate")
    cand.relu = object()  # a CuPy RawKernel, say: not a JITFunction
    tracer.watch_triton(cand)
    assert tracer.loaded == 0 and JITFunction.run.__name__ == "run" and not hasattr(JITFunction.run, "_ks_counted")


def test_the_tracer_counts_the_candidates_cupy_kernels(monkeypatch) -> None:
    """On CUDA the CuPy kernels a candidate's module holds are replaced by counting stand-ins
    (cheat/profiler_launder_cupy): CuPy's classes cannot be patched themselves."""
    import sys

    raw = types.ModuleType("cupy._core.raw")

    class RawKernel:  # the shape the tracer relies on: a callable of one of CuPy's own types
        def __init__(self, name):
            self.name = name

        def __call__(self, grid, block, args):
            return ("launched", self.name, args)

    RawKernel.__module__ = "cupy._core.raw"
    raw.RawKernel = RawKernel
    monkeypatch.setitem(sys.modules, "cupy._core.raw", raw)
    cand = types.ModuleType("kernelswarm_candidate")
    cand.relu = RawKernel("relu")
    cand.helper = lambda x: x  # the candidate's own functions are left alone
    cand.Klass = RawKernel

    class ufunc:  # CuPy's own operations are not the candidate's kernels
        def __call__(self, x):
            return x

    ufunc.__module__ = "cupy._core._kernel"
    cand.sqrt = ufunc()

    tracer = object.__new__(ExtensionTracer)  # its loaders left alone: nothing patched here
    tracer.active, tracer.calls, tracer.loaded = False, 0, 0
    tracer.watch_cupy(cand)
    assert tracer.loaded == 1 and cand.helper(3) == 3 and cand.Klass is RawKernel and cand.sqrt(4) == 4
    assert tracer.calls == 0
    assert cand.relu((1,), (1,), (2,)) == ("launched", "relu", (2,)) and tracer.calls == 1
    assert cand.relu.name == "relu"  # its attributes reach through
    tracer.active = True  # the profiled call: not counted
    cand.relu((1,), (1,), (2,))
    assert tracer.calls == 1
