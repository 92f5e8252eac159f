"""The CUDA backend: events, a whole-device synchronize before the end event, L2 flush."""

from __future__ import annotations

from typing import Any, Callable

import torch


class CudaBackend:
    name = "cuda"
    languages = ("triton", "cuda", "pytorch")

    def __init__(self) -> None:
        if not torch.cuda.is_available():
            raise RuntimeError("CUDA is not available on this machine")
        self.device = torch.device("cuda", torch.cuda.current_device())
        props = torch.cuda.get_device_properties(self.device)
        l2 = int(getattr(props, "L2_cache_size", 0) or 50 * 1024 * 1024)
        self.l2_bytes = l2
        # At least twice L2, so that neither the candidate's data nor a persisting window survives.
        self._flush_buf = torch.zeros(max(2 * l2, 128 * 1024 * 1024) // 4, dtype=torch.float32, device=self.device)
        # Captured before any candidate code runs (see CpuBackend).
        self._event_cls = torch.cuda.Event
        self._elapsed = torch.cuda.Event.elapsed_time
        self._record = torch.cuda.Event.record
        self._sync = torch.cuda.synchronize
        self._props = props
        self._reset_persisting = _persisting_reset()
        self.persisting_reset_ok: bool | None = None  # result of the last reset, for tests

    def synchronize(self) -> None:
        self._sync(self.device)

    def flush_cache(self) -> None:
        # Persisting L2 lines survive an ordinary sweep: demote them first, then sweep 2x L2.
        if self._reset_persisting is not None:
            self.persisting_reset_ok = self._reset_persisting() == 0
        self._flush_buf.add_(1.0)

    def settle(self, limit_s: float = 30.0, quiet_s: float = 2e-4, needed: int = 5) -> float:
        """Wait until no other process's work is running on the device; returns the ms waited.

        Other evaluations' workers are stopped during a timing, but kernels they queued before may
        still be draining. While another context has work, the GPU time-slices, and a tiny kernel
        here takes a slice (about a millisecond) to come back instead of microseconds: the device
        is quiet after `needed` probes in a row return within `quiet_s`."""
        import time

        clock, start, streak = time.perf_counter, time.perf_counter(), 0
        probe = self._flush_buf[:1]
        while streak < needed and clock() - start < limit_s:
            t = clock()
            probe.add_(1.0)
            self._sync(self.device)
            streak = streak + 1 if clock() - t < quiet_s else 0
        return 1000.0 * (clock() - start)

    def time_call(self, fn: Callable[[], Any]) -> tuple[float, Any]:
        start = self._event_cls(enable_timing=True)
        end = self._event_cls(enable_timing=True)
        self._sync(self.device)
        self._record(start)
        result = fn()
        # Whole-device synchronize first: work hidden on side streams is inside the window.
        self._sync(self.device)
        self._record(end)
        self._sync(self.device)
        return self._elapsed(start, end), result

    def free_share(self) -> float:
        free, total = torch.cuda.mem_get_info(self.device)
        return free / total if total else 1.0

    def timing_primitives(self) -> dict[str, Any]:
        return {
            "torch.cuda.Event.elapsed_time": (torch.cuda.Event, "elapsed_time", self._elapsed),
            "torch.cuda.Event.record": (torch.cuda.Event, "record", self._record),
            "torch.cuda.synchronize": (torch.cuda, "synchronize", self._sync),
        }

    def info(self) -> dict[str, str]:
        info = {
            "device_name": self._props.name,
            "torch": torch.__version__,
            "cuda": str(torch.version.cuda),
            "sm_count": str(self._props.multi_processor_count),
            "l2_bytes": str(self.l2_bytes),
        }
        try:
            import triton

            info["triton"] = triton.__version__
        except Exception:
            pass
        info["driver"] = driver_version()
        return info


def driver_version() -> str:
    """The NVIDIA driver's version, from the kernel module's own line in /proc (instant), else
    from nvidia-smi (1-3 s to start NVML where persistence mode is off: it was most of every
    evaluation's `spec` request on the H200)."""
    try:
        with open("/proc/driver/nvidia/version") as f:
            version = driver_in_line(f.readline())
        if version:
            return version
    except OSError:
        pass
    try:
        import subprocess

        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else ""
    except Exception:
        return ""


def driver_in_line(line: str) -> str:
    """'NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.159.04  ...' -> '580.159.04'."""
    return next((w for w in line.split() if w[:1].isdigit() and "." in w), "")


def _persisting_reset():
    """cudaCtxResetPersistingL2Cache from the CUDA runtime torch already loaded, or None."""
    import ctypes

    for name in ("libcudart.so", "libcudart.so.13", "libcudart.so.12"):
        try:
            fn = ctypes.CDLL(name, mode=ctypes.RTLD_GLOBAL).cudaCtxResetPersistingL2Cache
        except (OSError, AttributeError):
            continue
        fn.restype = ctypes.c_int
        return fn
    return None
