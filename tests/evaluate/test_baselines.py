"""Baselines: eager and torch.compile timed alternately in one window (never cached across runs),
and baselines refused when timed short of device memory."""

from pathlib import Path

from fixtures import PROBLEMS

from kernelswarm.evaluate.parent import baselines
from kernelswarm.evaluate.parent.options import EvalOptions
from kernelswarm.problems.load import load_problem

CONV = Path(__file__).parents[1] / "fixtures" / "swarm" / "problems" / "tiny_conv.py"
VERSIONS = {"device_name": "x86_64", "torch": "2.13.0+cpu"}


class _PairWorker:
    """A clean worker whose eager calls take 2 ms and compiled ones 1 ms, both times `load`."""

    def __init__(self) -> None:
        self.load, self.slots = 1.0, []

    def call(self, msg, deadline=None):
        if msg["op"] == "time_call":
            self.slots.append(msg.get("slot"))
            self.load = 1.0 + (0.37 * ((len(self.slots) - 1) // 2)) % 4.0  # drifts between pairs, fivefold
            return {"ms": (1.0 if msg.get("slot") == "compile" else 2.0) * self.load}, b""
        return {}, b""


def test_eager_and_compile_are_timed_alternately_in_one_window():
    """Never a cached compile timing: both in the same window, sample i of each side by side,
    so their ratio holds although the load drifts fivefold."""
    import time

    from kernelswarm import intervals
    from kernelswarm.evaluate.parent import timing

    worker = _PairWorker()
    o = EvalOptions.for_device("cpu", timed_calls=40, min_timing_s=0.0, max_timed_calls=60)
    eager, compiled = timing.time_pair(worker, o, time.monotonic() + o.timeout_s, [], 1, "default")
    assert eager.n == compiled.n >= 40
    pairs = [set(worker.slots[i:i + 2]) for i in range(0, len(worker.slots), 2)]
    assert all(p == {None, "compile"} for p in pairs)  # each pair: one of each, order drawn
    low, high = intervals.ratio_ci(compiled.samples, eager.samples, seed=1)
    assert low <= 0.5 <= high and high - low < 0.3
    assert not hasattr(baselines, "cached_compile_timing")


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


def test_eager_is_not_timed_alone_when_the_compile_pair_gives_it(tmp_path, monkeypatch):
    """Issue 16: the eager figure a run keeps is the one paired with torch.compile's; eager timed
    alone first was a whole exclusive timing window thrown away. Timed alone only where no pair
    gave it: compiling failed, or no compile mode was asked for."""
    from kernelswarm.records import Timing

    monkeypatch.setenv("KERNELSWARM_CACHE", str(tmp_path))
    alone: list[int] = []
    real = baselines.time_worker
    monkeypatch.setattr(baselines, "time_worker", lambda *a, **k: alone.append(1) or real(*a, **k))
    paired = (Timing.from_samples([2.0, 2.1]), Timing.from_samples([1.0, 1.1]))
    monkeypatch.setattr(baselines, "compile_pair", lambda *a, **k: paired)
    got = baselines.time_baselines(load_problem(CONV), "cpu", compile_modes=("default",), timeout_s=120)
    assert alone == [] and got == {"eager": paired[0], "compile:default": paired[1]}
    monkeypatch.setattr(baselines, "compile_pair", lambda *a, **k: None)  # compiling failed
    got = baselines.time_baselines(load_problem(CONV), "cpu", compile_modes=("default",), timeout_s=120)
    assert alone == [1] and set(got) == {"eager"} and got["eager"].median_ms > 0


def test_a_compile_killed_at_its_time_limit_leaves_eager_timed_in_a_fresh_worker(tmp_path, monkeypatch):
    """A torch.compile baseline whose worker was killed at the time limit (a whole model's compile
    under load: models14's timm ResNet-18): eager is timed alone in a fresh clean worker, never on
    the killed one (OSError EBADF before), and every compile mode is told 'not measured in time'."""
    from kernelswarm.evaluate.parent.procs import WorkerFailed

    monkeypatch.setenv("KERNELSWARM_CACHE", str(tmp_path))
    killed = []

    def compile_runs_out(ref, *a, **k):  # as WorkerProcess.finish_call at a deadline: kill, then raise
        ref.kill()
        killed.append(ref.proc.pid)
        raise WorkerFailed("timeout", "no answer to 'time_pair' before the time limit")

    monkeypatch.setattr(baselines, "time_pair", compile_runs_out)
    eager_on = []
    real = baselines.time_worker
    monkeypatch.setattr(baselines, "time_worker", lambda ref, *a, **k: eager_on.append(ref.proc.pid) or real(ref, *a, **k))
    told: list[tuple[str, str]] = []
    got = baselines.time_baselines(load_problem(CONV), "cpu", compile_modes=("default", "reduce-overhead"), timeout_s=120,
                                   on_compile_missing=lambda mode, why: told.append((mode, why)))
    assert set(got) == {"eager"} and got["eager"].median_ms > 0
    assert len(killed) == 1 and len(eager_on) == 1 and eager_on[0] != killed[0]  # once, in another worker
    assert [m for m, _ in told] == ["default", "reduce-overhead"]
    assert all(why.startswith("not measured in time") for _, why in told), told
