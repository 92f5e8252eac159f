"""What the per-call checks of issue 14 cost: projections against the magnitude fingerprint, and
the clean worker's flush request (the candidate's process stopped) against a flush alone.

    python benchmarks/check_costs.py [--device cpu|cuda] [--reps 50]

Projections and fingerprints are timed in this process on outputs of several sizes (the least
and the median of REPS runs, ms). The flush request is timed by the parent's clock around it,
with a second worker stopped and continued as the timing loop does; the flush alone as the clean
worker reports it. Prints one line per measure.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def _stats(f, reps: int) -> tuple[float, float]:
    f()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        ts.append(1000.0 * (time.perf_counter() - t))
    ts.sort()
    return ts[0], ts[len(ts) // 2]


def in_process(device: str, reps: int) -> None:
    import torch

    from kernelswarm.evaluate.worker.fingerprints import fingerprint, projections

    dev = torch.device(device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    for shape in [(64, 256), (512, 4096), (128, 1024, 1024)]:
        y = torch.randn(*shape, device=dev)
        for name, fn in (("projections", lambda: projections([y], 7)), ("fingerprint", lambda: fingerprint([y]))):
            lo, med = _stats(lambda fn=fn: (fn(), sync()), reps)
            print(f"{name:12s} {str(shape):18s} min {lo:8.3f} ms  median {med:8.3f} ms", flush=True)


def flush_request(device: str, reps: int) -> None:
    from kernelswarm.evaluate.parent.options import EvalOptions
    from kernelswarm.evaluate.parent.procs import WorkerProcess, init_message
    from kernelswarm.problems.load import load_problem

    problem = load_problem(ROOT / "tests" / "evaluate" / "problems" / "matmul.py")
    init = init_message(problem, EvalOptions.for_device(device))
    with tempfile.TemporaryDirectory() as d:
        clean = WorkerProcess("reference", Path(d) / "r", device)
        other = WorkerProcess("reference", Path(d) / "o", device)
        try:
            clean.call(init)
            other.call(init)
            alone: list[float] = []

            def request() -> None:
                with other.stopped():
                    alone.append(float(clean.call({"op": "flush"})[0]["flush_ms"]))

            lo, med = _stats(request, reps)
            alone.sort()
            print(f"flush request, other worker stopped: min {lo:.3f} ms  median {med:.3f} ms; "
                  f"the flush alone: min {alone[0]:.3f} ms  median {alone[len(alone) // 2]:.3f} ms", flush=True)
        finally:
            clean.kill()
            other.kill()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--reps", type=int, default=50)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    in_process(a.device, a.reps)
    flush_request(a.device, a.reps)


if __name__ == "__main__":
    main()
