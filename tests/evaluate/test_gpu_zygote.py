"""Workers forked from the zygote on a GPU: the zygote never loads the CUDA driver, so each forked
worker initialises CUDA itself and runs; the start and the first CUDA use are timed here."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from fixtures import PROBLEMS
from kernelswarm.evaluate import EvalOptions
from kernelswarm.evaluate.parent import forkserver
from kernelswarm.evaluate.parent.procs import WorkerProcess, init_message
from kernelswarm.problems import load_problem

torch = pytest.importorskip("torch")

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def test_forked_workers_initialise_cuda_and_run(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(forkserver.ENV_SWITCH, raising=False)
    problem = load_problem(PROBLEMS / "relu_linear.py")
    options = EvalOptions.for_device("cuda")
    starts = []
    for i in range(3):
        t = time.perf_counter()
        w = WorkerProcess("reference" if i % 2 == 0 else "candidate", tmp_path / f"w{i}", "cuda")
        try:
            w.call(init_message(problem, options), deadline=time.monotonic() + 600)
            spec, _ = w.call({"op": "spec", "seed": 1, "precision": "fp32", "work_key": None, "measure_peaks": False},
                             deadline=time.monotonic() + 600)
        finally:
            w.kill()
        starts.append(time.perf_counter() - t)
        assert w.started_by == "zygote", w.zygote_why
        assert "spec" in spec or "peaks_missing" in spec, spec
    print(f"forked CUDA worker start + init + first op: {', '.join(f'{s:.2f} s' for s in starts)}")


def test_the_driver_is_told_initialised_from_loaded() -> None:
    """Mapped by `import torch` (torch 2.11's CUDA 13 build) is safe to fork; initialised (a device
    count through the CUDA runtime) is not: the zygote's check tells the two apart without
    initialising. (`torch.cuda.device_count()` asks NVML and leaves the driver alone: on the H200 it
    did not initialise it, so the runtime's own count is asked here.)"""
    import os
    import subprocess
    import sys

    ask = ("import torch; from kernelswarm.evaluate.worker import zygote; {touch}"
           "print(repr(zygote._driver_state()))")
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    imported = subprocess.run([sys.executable, "-c", ask.format(touch="")], env=env, capture_output=True,
                              text=True, timeout=300)
    touched = subprocess.run([sys.executable, "-c", ask.format(touch="torch._C._cuda_getDeviceCount(); ")], env=env,
                             capture_output=True, text=True, timeout=300)
    assert imported.stdout.strip() == "''", imported.stdout + imported.stderr
    assert "initialised" in touched.stdout, touched.stdout + touched.stderr
