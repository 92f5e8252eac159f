"""Issue 16.3 (compile ahead): the clean worker compiles the torch.compile baseline with a pool of
compile workers, and nothing of that pool is alive or busy once timing starts."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures import PROBLEMS

from kernelswarm.evaluate.parent import baselines, timing
from kernelswarm.evaluate.worker import contain
from kernelswarm.problems.load import load_problem

SRC = Path(__file__).parents[2] / "src"

# Run in a process of its own session (as a worker is): the pool exists inside the block (its build
# threads on a CPU, its sidecar and worker processes for Triton), and nothing of it after.
SCRIPT = """
import sys, threading
import torch
import torch._inductor.config as cfg
from kernelswarm.evaluate.worker import compilepool

device = sys.argv[1]
torch.set_grad_enabled(False)
model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.GELU(), torch.nn.LayerNorm(64)).to(device)
x = torch.randn(8, 64, device=device)
seen = {"threads": 0, "procs": 0}
real = compilepool.shut_down

def watch(before, timeout_s=30.0):  # what the pool left running, just before the shutdown
    seen["threads"] = len(compilepool.pool_threads_alive(before))
    seen["procs"] = len(compilepool.others_in_session())
    real(before, timeout_s)

compilepool.shut_down = watch
with compilepool.parallel_compile(2):
    torch.compile(model)(x)
after = [t.name for t in threading.enumerate() if t.name.startswith(compilepool.POOL_THREADS)]
print(seen["threads"], seen["procs"], cfg.compile_threads, len(compilepool.others_in_session()), after)
"""


def _run(device: str) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "TORCHINDUCTOR_FORCE_DISABLE_CACHES": "1"}
    out = subprocess.run([sys.executable, "-c", SCRIPT, device], check=False, capture_output=True, text=True,
                         env=env, timeout=600, start_new_session=True)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.split(maxsplit=4)


def test_the_pool_compiles_then_is_gone_on_cpu():
    threads, _procs, compile_threads, left, names = _run("cpu")
    assert int(threads) >= 1  # C++ kernels were built by the pool's threads...
    assert compile_threads == "1" and left == "0" and names.strip() == "[]"  # ...none of which is left


@pytest.mark.gpu
def test_the_pool_compiles_then_is_gone_on_cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    _threads, procs, compile_threads, left, names = _run("cuda")
    assert int(procs) >= 1  # Triton kernels: the subprocess pool's sidecar (and its workers) ran...
    assert compile_threads == "1" and left == "0" and names.strip() == "[]"  # ...and are gone


def test_no_compile_pool_process_or_thread_is_alive_while_the_baselines_are_timed(tmp_path, monkeypatch):
    """Through time_baselines on a real clean worker: at every timed call of the eager and compile
    pair, the worker's session holds the worker alone, and its thread count never changes (a pool
    winding down in the background would show as a thread leaving)."""
    monkeypatch.setenv("KERNELSWARM_CACHE", str(tmp_path))
    monkeypatch.setenv("KERNELSWARM_COMPILE_THREADS", "2")
    seen: list[tuple[list[int], int]] = []
    real = timing.time_pair

    class Watched:
        def __init__(self, worker):
            self.worker = worker

        def call(self, msg, deadline=None):
            if msg["op"] == "time_call":
                pid = self.worker.proc.pid
                seen.append((contain.session_members(pid), len(os.listdir(f"/proc/{pid}/task"))))
            return self.worker.call(msg, deadline=deadline)

    monkeypatch.setattr(baselines, "time_pair", lambda worker, *a, **k: real(Watched(worker), *a, **k))
    got = baselines.time_baselines(load_problem(PROBLEMS / "relu_linear.py"), "cpu", compile_modes=("default",),
                                   timeout_s=500)
    assert "compile:default" in got and got["compile:default"].median_ms > 0
    assert seen and all(len(members) == 1 for members, _ in seen), seen[:3]
    assert len({threads for _, threads in seen}) == 1, [threads for _, threads in seen]
