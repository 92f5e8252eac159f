"""Baselines: the compile-baseline cache (reused only under the protocol and threads it was taken with), and
baselines refused when timed short of device memory."""

from pathlib import Path

from fixtures import PROBLEMS

from kernelswarm.evaluate import baselines
from kernelswarm.evaluate.options import EvalOptions
from kernelswarm.problems.load import load_problem

CONV = Path(__file__).parents[1] / "fixtures" / "swarm" / "problems" / "tiny_conv.py"
VERSIONS = {"device_name": "x86_64", "torch": "2.13.0+cpu"}


def test_cache_key_changes_with_the_protocol_and_the_cpu_threads(monkeypatch):
    problem = load_problem(PROBLEMS / "relu_linear.py")
    two = EvalOptions.for_device("cpu", cpu_threads=2)
    key = baselines._cache_key(problem, two, VERSIONS, "default")
    assert key.startswith(f"p{baselines.PROTOCOL}|") and "threads=2" in key
    assert baselines._cache_key(problem, EvalOptions.for_device("cpu", cpu_threads=1), VERSIONS, "default") != key
    monkeypatch.setattr(baselines, "PROTOCOL", baselines.PROTOCOL + 1)
    assert baselines._cache_key(problem, two, VERSIONS, "default") != key  # older timings are measured again
    cuda = baselines._cache_key(problem, EvalOptions.for_device("cuda"), {"device_name": "H100"}, "default")
    assert "threads" not in cuda  # a GPU timing does not depend on the host's thread count


class _Ref:
    """A clean worker that saw `share` of device memory free."""

    def __init__(self, share: float) -> None:
        self.share, self.asked = share, 0

    def call(self, msg, deadline=None):
        assert msg == {"op": "memory"}
        self.asked += 1
        return {"min_free_share": self.share}, b""


def test_a_baseline_timed_short_of_memory_is_refused():
    import pytest

    with pytest.raises(baselines.MemoryPressure, match="only 9% of device memory was free"):
        baselines.check_memory(_Ref(0.09), 0.25, "eager baseline", deadline=0.0)
    baselines.check_memory(_Ref(0.5), 0.25, "eager baseline", deadline=0.0)  # enough free: stands
    alone = _Ref(0.01)
    baselines.check_memory(alone, 0.0, "eager baseline", deadline=0.0)  # alone on the device: not asked
    assert alone.asked == 0


def test_only_workspace_picking_references_are_checked():
    assert baselines.picks_by_workspace(load_problem(CONV))  # nn.Conv2d: cuDNN picks by workspace
    assert not baselines.picks_by_workspace(load_problem(PROBLEMS / "relu_linear.py"))  # same kernels whatever is free


def test_the_clean_worker_reports_the_memory_it_saw(tmp_path, monkeypatch):
    """On a real worker: baselines asked to check free memory still come back (a CPU has no device
    memory to run short of), so the `memory` op and its bookkeeping work end to end."""
    monkeypatch.setenv("KERNELSWARM_CACHE", str(tmp_path))
    asked = []
    real = baselines.check_memory
    monkeypatch.setattr(baselines, "check_memory", lambda *a, **k: asked.append(a[1]) or real(*a, **k))
    from kernelswarm.supervisor import _real_baseline_timer

    # Through the entry point the supervisor calls, with the keywords it passes beside other
    # evaluations (a wrapper that dropped one failed every GPU baseline: session 6's sweep).
    timer = _real_baseline_timer()
    got = timer(load_problem(CONV), "cpu", compile_modes=(), timeout_s=120, lock=baselines.NO_LOCK, min_free_share=0.25)
    assert got["eager"].median_ms > 0 and asked == [0.25]
