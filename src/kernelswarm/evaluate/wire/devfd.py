"""Outputs that stay on the device: a descriptor of device memory handed from process to process.

A CUDA candidate's outputs of a trial (1 GiB for a level-1 problem) crossed to the clean worker
through the host: a sealed memory file written from the device and read back onto it, about 0.7 s
a trial on the H200 (session 19). Instead its worker copies them into device memory it allocated
with the driver's virtual-memory API and exports as a file descriptor (worker/devmem.py); the
parent takes that descriptor from the worker's process (pidfd_getfd: the candidate's worker, in a
PID namespace of its own, is the parent's descendant) and hands it on to a clean worker the same way;
the clean worker maps it read-only, copies every output into memory of its own and lets go:
milliseconds a trial (benchmarks/device_crossing.py, session 21).

What a sender can shape: the descriptor's number, the size and the outputs' layout. The receiver
takes only a character device's descriptor (the driver's; a pipe, a socket or a file is refused
here), bounds the size, and checks every output against it before anything is mapped; the driver
refuses a descriptor that is not an exported allocation and a mapping larger than the allocation.
The bytes are the sender's to choose, as a sealed file's are: nothing it writes after the copy
reaches what the clean worker judges, which is its own copy.

Standard library only (the parent imports this; the CUDA side is worker/devmem.py).
"""

from __future__ import annotations

import ctypes
import os
import stat
import sys
from typing import Any

from kernelswarm.evaluate.wire.sealed import HeldFd

ENV_SWITCH = "KERNELSWARM_DEVICE_OUTPUTS"  # "0": every output crosses through the host, as before
_SYS_PIDFD_GETFD = 438  # the same number on x86-64 and arm64
MAX_OUTPUTS = 4096


class DeviceFdError(ValueError):
    """What the sender described is not device memory this process can take."""


class DeviceFd(HeldFd):
    """Device memory held through this process's own descriptor, with the outputs' layout."""

    def __init__(self, fd: int, size: int, entries: list[Any]) -> None:
        super().__init__(fd, size)
        self.entries = entries


def enabled() -> bool:
    return (sys.platform.startswith("linux") and hasattr(os, "pidfd_open")
            and os.environ.get(ENV_SWITCH, "1").lower() not in ("0", "off", "no", "false"))


def describe(blob: DeviceFd) -> dict[str, Any]:
    """What the receiver needs: the descriptor's number here, the size and the layout."""
    return {"fd": blob.fd, "size": blob.size, "entries": blob.entries}


def take_fd(pid: int, fd: int) -> int:
    """A descriptor of this process's own for process `pid`'s descriptor `fd`. Raises OSError."""
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        got = libc.syscall(_SYS_PIDFD_GETFD, pidfd, fd, 0)
        if got < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        return int(got)
    finally:
        os.close(pidfd)


def open_from(pid: int | None, desc: Any, max_bytes: int) -> DeviceFd:
    """Take and check the device memory another process described. Raises DeviceFdError."""
    try:
        fd, size, entries = int(desc["fd"]), int(desc["size"]), desc["entries"]
    except (TypeError, KeyError, ValueError):
        raise DeviceFdError("malformed device-outputs description") from None
    if pid is None:
        raise DeviceFdError("device outputs with no sender to take them from")
    if not 0 < size <= max_bytes:
        raise DeviceFdError(f"device outputs of {size} bytes are out of bounds")
    if not isinstance(entries, list) or len(entries) > MAX_OUTPUTS:
        raise DeviceFdError(f"the device outputs' layout is not a list of at most {MAX_OUTPUTS} outputs")
    try:
        mine = take_fd(pid, fd)
    except OSError as e:
        raise DeviceFdError(f"cannot take the sender's device outputs ({e.strerror})") from None
    try:
        if not stat.S_ISCHR(os.fstat(mine).st_mode):  # the driver's descriptors are character devices
            raise DeviceFdError("the sender's device outputs are not the driver's descriptor")
    except (OSError, DeviceFdError) as e:
        os.close(mine)
        raise DeviceFdError(str(e)) from None
    return DeviceFd(mine, size, entries)


def probe(pid: int, fd: int) -> str:
    """Whether this process may take descriptors from process `pid` (its `fd`): "" if so, else why.
    A clean worker asks this of the evaluator before a candidate is told to keep outputs on the
    device (as an unprivileged user under Yama's ptrace scope 1, a process may not take from its
    ancestor: then every output crosses through the host)."""
    try:
        os.close(take_fd(pid, fd))
        return ""
    except OSError as e:
        return f"pidfd_getfd: {e.strerror}"
    except (AttributeError, ValueError) as e:  # no pidfd_open on this Python or platform
        return str(e)
