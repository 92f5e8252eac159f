"""The CPU backend: perf_counter_ns timing, a cache flush between calls, fixed thread count."""

from __future__ import annotations

import os
import platform
import time
from typing import Any, Callable

import torch

# Twice the last-level cache, capped: server CPUs with several hundred MiB of L3 would make
# every timed call pay a long flush, and a 64 MiB sweep already evicts a problem's working set
# from the per-core caches and most of a shared L3 slice.
_FLUSH_CAP = 64 * 1024 * 1024


def _flush_bytes() -> int:
    try:
        text = open("/sys/devices/system/cpu/cpu0/cache/index3/size").read().strip()
        size = int(text.rstrip("KMG")) * {"K": 1024, "M": 1024**2, "G": 1024**3}.get(text[-1], 1)
    except (OSError, ValueError):
        size = 32 * 1024 * 1024
    return min(2 * size, _FLUSH_CAP)


class CpuBackend:
    name = "cpu"
    languages = ("cpp", "pytorch")

    def __init__(self) -> None:
        self.device = torch.device("cpu")
        # Captured now, before any candidate code is imported: a candidate that patches
        # time.perf_counter_ns later does not change the clock this backend reads.
        self._clock = time.perf_counter_ns
        self._flush_buf = torch.zeros(_flush_bytes() // 4, dtype=torch.float32)
        self.threads = torch.get_num_threads()

    def synchronize(self) -> None:
        pass

    def flush_cache(self) -> None:
        self._flush_buf.add_(1.0)  # reads and writes every line

    def settle(self) -> float:
        """Nothing queued elsewhere can outlive a stopped process on a CPU: no wait."""
        return 0.0

    def time_call(self, fn: Callable[[], Any]) -> tuple[float, Any]:
        clock = self._clock
        start = clock()
        result = fn()
        end = clock()
        return (end - start) / 1e6, result

    def free_share(self) -> float:
        """Host memory is not what libraries choose algorithms by here."""
        return 1.0

    def timing_primitives(self) -> dict[str, Any]:
        """The objects whose identity the worker re-checks after the candidate ran."""
        return {"time.perf_counter_ns": (time, "perf_counter_ns", self._clock)}

    def info(self) -> dict[str, str]:
        return {
            "device_name": platform.processor() or platform.machine(),
            "cpu_count": str(os.cpu_count()),
            "threads": str(self.threads),
            "torch": torch.__version__,
        }
