"""Where a worker's start-up time goes on this machine (torch import, device init, backend, problem)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

t0 = time.perf_counter()
import torch  # noqa: E402

t1 = time.perf_counter()
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
device = sys.argv[1] if len(sys.argv) > 1 else ("cuda" if torch.cuda.is_available() else "cpu")
if device == "cuda":
    torch.cuda.init()
    torch.empty(1, device="cuda")
t2 = time.perf_counter()
from kernelswarm.backends import get_backend  # noqa: E402

backend = get_backend(device)
t3 = time.perf_counter()
info = backend.info()
t4 = time.perf_counter()
from kernelswarm import sol  # noqa: E402

peaks = sol.cached_peaks(device)
t5 = time.perf_counter()
print(f"import torch {t1 - t0:.2f} s | device init {t2 - t1:.2f} s | backend {t3 - t2:.2f} s | info {t4 - t3:.2f} s | "
      f"cached peaks {t5 - t4:.2f} s | {info.get('device_name')}")
