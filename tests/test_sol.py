"""Speed-of-light: peaks measurement and caching, work counting, the floor."""

from __future__ import annotations

import json

import pytest
import torch

from kernelswarm import sol
from kernelswarm.sol import MARGIN, Peaks, Work, cached_peaks, count_work, floor_ms, fraction_of_sol, sol_ms


def _peaks(**kw) -> Peaks:
    base = dict(device="cuda", device_name="Fake GPU", bandwidth_gbs=1000.0, fp32_tflops=50.0, tf32_tflops=400.0,
                bf16_tflops=800.0, fp16_tflops=800.0, measured_at="now", torch_version="x", cache_bytes=0,
                cache_bandwidth_gbs=0.0)
    base.update(kw)
    return Peaks(**base)


def test_measure_peaks_cpu_quick_is_positive_and_fast():
    p = sol.measure_peaks("cpu", quick=True)
    assert p.device == "cpu" and p.quick
    assert p.bandwidth_gbs > 0 and p.fp32_tflops > 0 and p.cache_bandwidth_gbs >= p.bandwidth_gbs
    assert p.tf32_tflops == p.fp32_tflops  # no TF32 unit on a CPU
    assert p.fastest_tflops >= p.fp32_tflops


def test_cached_peaks_measures_once(tmp_path, monkeypatch):
    calls = []
    real = sol.measure_peaks

    def counting(device, quick=False):
        calls.append(device)
        return real(device, quick=quick)

    monkeypatch.setattr(sol, "measure_peaks", counting)
    monkeypatch.setattr(sol, "_load_per_core", lambda: 0.0)  # a quiet machine
    a = cached_peaks("cpu", cache_dir=tmp_path, quick=True)
    b = cached_peaks("cpu", cache_dir=tmp_path, quick=True)
    assert calls == ["cpu"] and a == b
    [path] = tmp_path.glob("peaks-*.json")
    saved = json.loads(path.read_text())
    assert saved["torch_version"] == torch.__version__ and saved["device"] == "cpu"
    assert torch.__version__.split("+")[0] in path.name  # keyed by torch version


def test_cached_peaks_remeasures_a_corrupt_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(sol, "_load_per_core", lambda: 0.0)
    cached_peaks("cpu", cache_dir=tmp_path, quick=True)
    [path] = tmp_path.glob("peaks-*.json")
    path.write_text("{not json")
    assert cached_peaks("cpu", cache_dir=tmp_path, quick=True).bandwidth_gbs > 0
    json.loads(path.read_text())  # rewritten whole


def test_peaks_measured_on_a_busy_cpu_are_replaced_once_quiet(tmp_path, monkeypatch):
    load = [3.0]
    monkeypatch.setattr(sol, "_load_per_core", lambda: load[0])
    busy = cached_peaks("cpu", cache_dir=tmp_path, quick=True)
    assert busy.busy == 3.0
    assert cached_peaks("cpu", cache_dir=tmp_path, quick=True) == busy  # still busy: kept, not re-measured
    load[0] = 0.1
    quiet = cached_peaks("cpu", cache_dir=tmp_path, quick=True)
    assert quiet.busy == 0.1 and quiet.measured_at >= busy.measured_at
    assert cached_peaks("cpu", cache_dir=tmp_path, quick=True) == quiet


def test_count_work_linear():
    model = torch.nn.Linear(256, 128)
    x = torch.randn(32, 256)
    w = count_work(model, [x])
    assert w.flops == 2 * 32 * 256 * 128
    assert w.input_bytes == 32 * 256 * 4
    assert w.param_bytes == (256 * 128 + 128) * 4
    assert w.output_bytes == 32 * 128 * 4
    assert w.bytes == w.input_bytes + w.param_bytes + w.output_bytes


def test_count_work_counts_a_repeated_input_once():
    class Add(torch.nn.Module):
        def forward(self, a, b):
            return a + b

    x = torch.randn(1000)
    w = count_work(Add(), [x, x])
    assert w.flops == 0  # elementwise ops are not counted: the FLOP term stays a lower bound
    assert w.input_bytes == 4000 and w.output_bytes == 4000


class _Mixed(torch.nn.Module):
    """Matrix products of four kinds (linear, convolution, batched, attention) and uncounted ops."""

    def __init__(self) -> None:
        super().__init__()
        self.lin, self.conv = torch.nn.Linear(64, 32), torch.nn.Conv2d(3, 8, 3)

    def forward(self, x, y, q):
        att = torch.nn.functional.scaled_dot_product_attention(q, q, q)
        return self.lin(x).softmax(-1), self.conv(y).relu().sum(), torch.bmm(q[0], q[0].transpose(-1, -2)), att


def test_count_work_counts_what_torchs_flop_counter_counts():
    from torch.utils.flop_counter import FlopCounterMode

    model, inputs = _Mixed(), [torch.randn(8, 64), torch.randn(2, 3, 16, 16), torch.randn(2, 4, 16, 8)]
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(*inputs)
    assert count_work(model, inputs).flops == counter.get_total_flops() > 0


def test_count_work_falls_back_to_the_flop_counter_for_a_higher_order_op():
    class Cond(torch.nn.Module):
        def forward(self, x):
            return torch.cond(x.sum() > 0, lambda x: x @ x, lambda x: x + 1, (x,))

    assert count_work(Cond(), [torch.randn(16, 16).abs()]).flops == 2 * 16**3


def test_a_first_count_in_a_process_leaves_dynamo_unloaded():
    """FlopCounterMode's first use imports torch._dynamo (seconds of a clean worker's time, in
    every evaluation of a problem not yet counted); the count does not need it."""
    import subprocess
    import sys

    code = ("import sys, torch; from kernelswarm.sol import count_work; "
            "from tests.test_sol import _Mixed; "
            "w = count_work(_Mixed(), [torch.randn(8, 64), torch.randn(2, 3, 16, 16), torch.randn(2, 4, 16, 8)]); "
            "print(w.flops, 'torch._dynamo' in sys.modules)")
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=root, check=True)
    flops, dynamo = out.stdout.split()
    assert int(flops) > 0 and dynamo == "False", out.stderr[-2000:]


def test_sol_uses_the_fastest_unit_and_the_slower_term():
    p = _peaks()
    compute = Work(flops=int(8e12), bytes=1000)  # 8 TFLOP at 800 TFLOP/s = 10 ms
    assert sol_ms(compute, p) == pytest.approx(10.0)
    assert sol_ms(compute, p, "fp32") == sol_ms(compute, p, "bf16")  # the policy never slows the unit
    memory = Work(flops=0, bytes=int(1e9))  # 1 GB at 1000 GB/s = 1 ms
    assert sol_ms(memory, p) == pytest.approx(1.0)
    assert floor_ms(memory, p) == pytest.approx(MARGIN * 1.0)


def test_a_floor_from_peaks_measured_under_load_is_lowered_by_the_load():
    memory = Work(flops=0, bytes=int(1e9))  # 1 ms at the measured 1000 GB/s
    quiet, loaded = _peaks(), _peaks(busy=3.0)  # four runnable processes per core while measured
    assert floor_ms(memory, quiet) == pytest.approx(MARGIN * 1.0)
    assert floor_ms(memory, loaded) == pytest.approx(MARGIN * 1.0 / 4.0)
    assert sol_ms(memory, loaded) == sol_ms(memory, quiet)  # the reported speed of light is unchanged


def test_sol_lets_cache_resident_bytes_move_at_cache_bandwidth():
    p = _peaks(cache_bytes=int(1e6), cache_bandwidth_gbs=4000.0)
    w = Work(flops=0, bytes=int(3e6))
    assert sol_ms(w, p) == pytest.approx(1e3 * (1e6 / 4000e9 + 2e6 / 1000e9))


def test_reduced_precision_may_halve_parameter_bytes():
    p = _peaks()
    w = Work(flops=0, bytes=int(2e9), input_bytes=int(1e9), param_bytes=int(1e9), output_bytes=0)
    assert sol_ms(w, p, "fp32") == pytest.approx(2.0)
    assert sol_ms(w, p, "bf16") == pytest.approx(1.5)


def test_fraction_of_sol():
    assert fraction_of_sol(1.0, 4.0) == 0.25
    assert fraction_of_sol(1.0, 0.0) == 0.0


def test_honest_reference_is_never_below_its_floor():
    # The eager reference itself, timed on this machine, must sit above the floor.
    import time

    p = sol.measure_peaks("cpu", quick=True)
    model = torch.nn.Sequential(torch.nn.Linear(512, 512), torch.nn.ReLU())
    x = torch.randn(256, 512)
    w = count_work(model, [x])
    with torch.no_grad():
        model(x)
        t0 = time.perf_counter()
        for _ in range(10):
            model(x)
        ms = (time.perf_counter() - t0) * 100
    assert ms > floor_ms(w, p)
