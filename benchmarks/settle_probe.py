"""Does the timing worker see work that a stopped process left queued on the GPU?

    python benchmarks/settle_probe.py [--out OUT]

A child process (its own session, like an evaluation's worker) queues about `--queued-ms` of
matmuls without synchronizing and is then stopped with SIGSTOP, as the device lock stops other
evaluations' workers during a timing. This process then runs the CUDA backend's `settle` and,
for comparison, times a short kernel under the timing protocol right away. Printed per case:
how long `settle` waited, and the probe's own latency. Cases: an idle device; a stopped process
with queued work.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import sys, torch
n = 8192
a = torch.randn(n, n, device="cuda"); b = torch.randn(n, n, device="cuda")
torch.cuda.synchronize()
s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
s.record(); a @ b; e.record(); torch.cuda.synchronize()
one = s.elapsed_time(e)
reps = max(1, int(float(sys.argv[1]) / one))
print(f"ready {one:.3f} {reps}", flush=True)
sys.stdin.readline()
for _ in range(reps):
    a @ b
print("queued", flush=True)
sys.stdin.readline()
"""


def _time_small(backend, x) -> float:
    ms, _ = backend.time_call(lambda: x.mul_(1.0))
    return ms


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--queued-ms", type=float, default=1500.0)
    args = ap.parse_args()
    import torch

    from kernelswarm.backends.cuda import CudaBackend

    backend = CudaBackend()
    x = torch.randn(1 << 20, device=backend.device)
    rows = []
    backend.synchronize()
    rows.append({"case": "idle device", "settle_ms": backend.settle(), "small_kernel_ms": _time_small(backend, x)})

    child = subprocess.Popen([sys.executable, "-c", CHILD, str(args.queued_ms)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        ready = child.stdout.readline().split()
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "queued"
        os.killpg(child.pid, signal.SIGSTOP)
        t = time.perf_counter()
        unsettled = _time_small(backend, x)  # what a timing would see without waiting
        settle_ms = backend.settle(limit_s=10.0)
        after = _time_small(backend, x)
        rows.append({"case": f"stopped process with ~{args.queued_ms:.0f} ms queued ({ready[2]} x {ready[1]} ms matmuls)",
                     "first_small_kernel_ms": unsettled, "settle_ms": settle_ms, "small_kernel_ms": after,
                     "since_stop_ms": 1000.0 * (time.perf_counter() - t)})
        os.killpg(child.pid, signal.SIGCONT)
    finally:
        child.kill()
        child.wait()
    for r in rows:
        print(json.dumps(r))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "settle_probe.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
