"""Baselines timed while another process holds nearly all device memory are refused (MemoryPressure),
and stand once the memory is free again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

_HOG = r"""
import sys, torch
free, total = torch.cuda.mem_get_info()
held = torch.empty(int(free - 2 * 2**30), dtype=torch.uint8, device="cuda")  # leave 2 GiB
print("ready", flush=True)
sys.stdin.readline()
"""


def test_a_baseline_short_of_device_memory_is_refused_then_stands() -> None:
    from kernelswarm.evaluate import time_baselines  # the supervisor's entry point
    from kernelswarm.evaluate.parent.baselines import MemoryPressure
    from kernelswarm.problems.load import load_problem

    problem = load_problem(Path(__file__).parents[1] / "fixtures" / "swarm" / "problems" / "tiny_conv.py")
    hog = subprocess.Popen([sys.executable, "-c", _HOG], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert hog.stdout.readline().strip() == "ready"
        with pytest.raises(MemoryPressure, match="of device memory was free"):
            time_baselines(problem, "cuda", compile_modes=(), timeout_s=300, min_free_share=0.25)
    finally:
        hog.stdin.write("\n")
        hog.stdin.flush()
        hog.wait(timeout=60)
    got = time_baselines(problem, "cuda", compile_modes=(), timeout_s=300, min_free_share=0.25)
    assert got["eager"].median_ms > 0
