"""Backends: a target device that knows how to synchronize, time and flush caches.

Imported by the worker process, so standard library at import; torch is imported by the
concrete backends when one is made.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

DEVICES = ("cpu", "cuda", "mps")


class Backend(Protocol):
    name: str  # "cpu", "cuda", "mps"
    languages: tuple[str, ...]  # kernel languages accepted on this device
    device: Any  # the torch.device

    def synchronize(self) -> None:
        """Wait until every queued kernel on the whole device is done."""

    def flush_cache(self) -> None:
        """Evict the caches between timed calls (twice the last-level cache size)."""

    def settle(self) -> float:
        """Before a timing: wait for work other processes queued on the device to drain (ms waited)."""

    def time_call(self, fn: Callable[[], Any]) -> tuple[float, Any]:
        """Run fn once under the timing protocol; return (milliseconds, result)."""

    def free_share(self) -> float:
        """The share of the device's memory free now, every process counted (1.0 where not known)."""

    def info(self) -> dict[str, str]:
        """Device name, driver and library versions, for every reported figure."""


def get_backend(name: str) -> Backend:
    if name == "cpu":
        from kernelswarm.backends.cpu import CpuBackend

        return CpuBackend()
    if name == "cuda":
        from kernelswarm.backends.cuda import CudaBackend

        return CudaBackend()
    if name == "mps":
        raise ValueError("the mps backend is not implemented yet")
    raise ValueError(f"unknown device {name!r}: choose one of {', '.join(DEVICES)}")


def available(name: str) -> bool:
    """Whether this machine has the device (imports torch)."""
    import torch

    if name == "cpu":
        return True
    if name == "cuda":
        return torch.cuda.is_available()
    if name == "mps":
        return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    return False


def best_device() -> str:
    """cuda when present, else cpu (mps is not implemented yet)."""
    return "cuda" if available("cuda") else "cpu"
