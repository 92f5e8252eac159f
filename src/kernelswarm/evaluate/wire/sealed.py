"""Large outputs cross processes as sealed memory files instead of through pipes.

A worker writes a large blob into a memfd and seals it against writing, shrinking and growing;
from then on nobody, the writer included, can change its bytes (the kernel refuses the write seal
while a writable shared mapping of the file exists, and any write or such mapping after it). The receiver opens the file through `/proc/<sender pid>/fd/<n>` while the sender
still holds it, checks the seals and the size itself (a sender's word is not trusted), and keeps
its own descriptor. The parent hands the same file on to the reference worker the same way, and
the reference maps it privately: a 1 GiB output is written once and never copied through a pipe
or held in the parent's memory.

Standard library only. Where memfds do not exist (macOS) blobs stay plain bytes in the pipe.
"""

from __future__ import annotations

import mmap
import os
import stat
from collections.abc import Callable
from typing import Any


def min_sealed() -> int:
    """Blobs smaller than this go through the pipe (KERNELSWARM_SEALED_MIN overrides, for tests)."""
    return int(os.environ.get("KERNELSWARM_SEALED_MIN") or 1 << 20)

_NEEDED = 0
try:
    import fcntl

    _NEEDED = fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW
    AVAILABLE = hasattr(os, "memfd_create")
except (ImportError, AttributeError):
    AVAILABLE = False
_MADV_POPULATE_READ = 22  # Linux 5.14; not named by Python 3.11's mmap


class SealedError(ValueError):
    """What the sender pointed at is not a sealed memory file of the stated size."""


class HeldFd:
    """Something of `size` bytes held through this process's own descriptor, closed once."""

    def __init__(self, fd: int, size: int) -> None:
        self.fd = fd
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __bool__(self) -> bool:
        return True

    def close(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass

    def __del__(self) -> None:
        self.close()


class SealedBlob(HeldFd):
    """A sealed memory file held through this process's own descriptor."""

    @property
    def path(self) -> str:
        """A name under which this process (and only through it, others) can open the file."""
        return f"/proc/self/fd/{self.fd}"

    def read(self) -> bytes:
        return os.pread(self.fd, self.size, 0)

    def map(self) -> mmap.mmap:
        """The file mapped privately: readable in place, and writable without reaching the file
        (a write copies its page). Its pages are mapped now, in one call, not fault by fault."""
        mm = mmap.mmap(self.fd, self.size, access=mmap.ACCESS_COPY)
        try:
            mm.madvise(_MADV_POPULATE_READ)
        except (OSError, ValueError):  # before Linux 5.14: faulted in as it is read
            pass
        return mm


def write(size: int, fill: Callable[[int], None]) -> SealedBlob:
    """A new memfd of `size` bytes filled by `fill(fd)` (with os.pwrite: a page written whole is
    never zeroed first, as a mapping's would be), then sealed."""
    fd = os.memfd_create("kernelswarm-outputs", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        os.ftruncate(fd, size)
        fill(fd)
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _NEEDED | fcntl.F_SEAL_SEAL)
        return SealedBlob(fd, os.fstat(fd).st_size)
    except BaseException:
        os.close(fd)
        raise


def describe(blob: SealedBlob) -> dict[str, Any]:
    """What the receiver needs to open the file: where, and how large the sender says it is."""
    return {"pid": os.getpid(), "fd": blob.fd, "size": blob.size}


def open_from(desc: Any, max_bytes: int) -> SealedBlob:
    """Open and verify a sealed file another process described. Raises SealedError."""
    try:
        pid, fd, size = int(desc["pid"]), int(desc["fd"]), int(desc["size"])
    except (TypeError, KeyError, ValueError):
        raise SealedError("malformed sealed-blob description") from None
    if not 0 < size <= max_bytes:
        raise SealedError(f"sealed blob of {size} bytes is out of bounds")
    path = f"/proc/{pid}/fd/{fd}"
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # never open a FIFO or a device
            raise SealedError("the described file is not a regular file")
        mine = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise SealedError(f"cannot open the sender's outputs ({e.strerror})") from None
    try:
        st = os.fstat(mine)
        seals = fcntl.fcntl(mine, fcntl.F_GET_SEALS)
        if not stat.S_ISREG(st.st_mode) or seals & _NEEDED != _NEEDED:
            raise SealedError("the sender's outputs are not sealed against change")
        if st.st_size != size:
            raise SealedError(f"the sealed file holds {st.st_size} bytes, not the {size} stated")
    except OSError as e:  # F_GET_SEALS on something that is not a memfd
        os.close(mine)
        raise SealedError(f"the sender's outputs are not a sealed memory file ({e.strerror})") from None
    except SealedError:
        os.close(mine)
        raise
    return SealedBlob(mine, size)
