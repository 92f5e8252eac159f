"""Locks between kernelswarm processes on one machine: one writer per store, one judge per device.

Each lock is an flock on a small file. A process holds it for all of its threads (counted: the
first `acquire` takes it, the last `release` lets it go), and the kernel drops it when the
process dies, even by SIGKILL, so a lock is never left stale. The file holds the holder's pid and
command line, so that a process refused or kept waiting can name it. Standard library only.

Device locks live in one folder for the whole machine (`KERNELSWARM_LOCK_DIR`, default
/tmp/kernelswarm-locks), one file per device name (`cpu`, `cuda:0`, ...): two kernelswarm
processes never judge or time on one device at once. A store's lock is the file `<store>.lock`
beside it: a second writer is refused at once.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

LOCK_DIR_ENV = "KERNELSWARM_LOCK_DIR"
DEFAULT_LOCK_DIR = "/tmp/kernelswarm-locks"


class Busy(Exception):
    """Another process holds the lock (raised only when not waiting); names the holder."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(f"{path}: held by {holder}")
        self.path = path
        self.holder = holder  # "pid 1234 (kernelswarm run ...)", or "another process"


class LockTimeout(Busy):
    """Another process still held the lock when the waiter's deadline came (a run's time budget:
    time waited for the device counts against it); names the holder and the time waited."""

    def __init__(self, path: Path, holder: str, waited_s: float) -> None:
        super().__init__(path, holder)
        self.waited_s = waited_s
        self.args = (f"{path}: still held by {holder} at the deadline (waited {waited_s:.1f} s for it)",)


@dataclass
class LockWait:
    """What one `hold` lost to another process: the seconds it waited for that process's hold to
    end, and who held it (its lock file's line). Zero and "" when the lock was free or already ours."""

    seconds: float = 0.0
    holder: str = ""


class ProcessLock:
    """An flock'd file held by this process on behalf of all its threads (see module doc)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cond = threading.Condition()
        self._count = 0  # holds by this process's threads
        self._taking = False  # a thread is blocked in flock for this process
        self._fd: int | None = None
        self._blocked_by = ""  # who held the lock when our latest take had to wait ("" if it did not)

    def acquire(self, wait: bool = True, on_wait: Callable[[str], None] | None = None,
                until: float | None = None) -> LockWait:
        """Hold the lock. Not waiting, raise Busy if another process has it; waiting, call
        `on_wait(holder)` once before blocking until it is free, or until the time.monotonic()
        instant `until` (then raise LockTimeout, not holding it). Returns what the wait cost (a
        thread that waited behind another thread of ours, itself blocked by a process, waited too)."""
        started, behind = time.monotonic(), False
        with self._cond:
            while self._taking:  # another thread of ours is waiting for it: wait with it
                behind = True
                if until is not None and time.monotonic() >= until:
                    raise LockTimeout(self.path, self._blocked_by or self.holder(), time.monotonic() - started)
                self._cond.wait(None if until is None else max(0.0, until - time.monotonic()))
            # Who blocked the take we waited behind (kept until the next take starts).
            holder = self._blocked_by if behind else ""
            if self._count:
                self._count += 1
                return LockWait(time.monotonic() - started, holder) if holder else LockWait()
            self._taking, self._blocked_by = True, ""
        try:
            fd, blocked_by = self._take(wait, on_wait, until, started)
        except BaseException:
            with self._cond:
                self._taking = False
                self._cond.notify_all()
            raise
        with self._cond:
            self._fd, self._count, self._taking = fd, 1, False
            self._cond.notify_all()
        holder = holder or blocked_by
        return LockWait(time.monotonic() - started, holder) if holder else LockWait()

    def release(self) -> None:
        with self._cond:
            if self._count == 0:
                return
            self._count -= 1
            if self._count == 0 and self._fd is not None:
                os.close(self._fd)  # closing the only descriptor drops the flock
                self._fd = None

    @contextlib.contextmanager
    def hold(self, on_wait: Callable[[str], None] | None = None, until: float | None = None) -> Iterator[LockWait]:
        """Held meanwhile; yields what waiting for it cost (filled in before the body runs). Not
        taken by `until` (a time.monotonic() instant): LockTimeout, and the body never runs."""
        waited = self.acquire(wait=True, on_wait=on_wait, until=until)
        try:
            yield waited
        finally:
            self.release()

    @property
    def held(self) -> bool:
        return self._count > 0

    def holder(self) -> str:
        """Who holds the lock, as its holder wrote it (best effort)."""
        try:
            text = self.path.read_text(errors="replace").strip()
        except OSError:
            text = ""
        return text.splitlines()[0][:200] if text else "another process"

    def _take(self, wait: bool, on_wait: Callable[[str], None] | None, until: float | None = None,
              began: float = 0.0) -> tuple[int, str]:
        """The locked descriptor, and who held the lock when this had to wait ("" if it did not).
        `began`: when the acquire started (a LockTimeout counts the whole wait)."""
        fd = _open_lock_file(self.path)
        blocked_by = ""
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                if not wait:
                    raise Busy(self.path, self.holder()) from None
                blocked_by = self.holder()
                with self._cond:
                    self._blocked_by = blocked_by
                if on_wait is not None:
                    on_wait(blocked_by)
                if until is None:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                else:
                    _flock_by(fd, until, lambda: LockTimeout(self.path, blocked_by, time.monotonic() - began))
            _write_holder(fd)
            return fd, blocked_by
        except BaseException:
            os.close(fd)
            raise


def _flock_by(fd: int, until: float, timed_out: Callable[[], LockTimeout]) -> None:
    """flock `fd` exclusively, trying again until the time.monotonic() instant `until` (flock has
    no timeout of its own); past it, raise `timed_out()`."""
    pause = 0.01
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
        left = until - time.monotonic()
        if left <= 0:
            raise timed_out()
        time.sleep(min(pause, left))
        pause = min(0.2, pause * 2)  # within 0.2 s of the holder letting go


def _open_lock_file(path: Path) -> int:
    flags = os.O_CLOEXEC | os.O_NOFOLLOW  # never follow a link planted in a shared folder
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | flags, 0o666)
    except PermissionError:  # another user's lock file: reading is enough to flock it
        return os.open(path, os.O_RDONLY | flags)
    with contextlib.suppress(OSError):  # let other users take the same device lock
        if os.fstat(fd).st_uid == os.getuid():
            os.fchmod(fd, 0o666)
    return fd


_HOLDER_NAME: str | None = None  # how this process names itself in lock files, when its argv would not do


def name_holder(name: str) -> None:
    """Name this process in the lock files it writes from now on (a Ray actor's argv is Ray's
    worker script and its sockets, which tell a waiting user nothing)."""
    global _HOLDER_NAME
    _HOLDER_NAME = name


def _write_holder(fd: int) -> None:
    what = _HOLDER_NAME or " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))
    line = f"pid {os.getpid()} ({what[:160]})\n"
    with contextlib.suppress(OSError):  # a read-only descriptor (another user's file) names nobody
        os.ftruncate(fd, 0)
        os.pwrite(fd, line.encode(errors="replace"), 0)


_LOCKS: dict[str, ProcessLock] = {}
_LOCKS_GUARD = threading.Lock()


def lock_at(path: str | Path) -> ProcessLock:
    """This process's one ProcessLock for a file (every caller shares its count)."""
    key = os.path.realpath(path)
    with _LOCKS_GUARD:
        if key not in _LOCKS:
            _LOCKS[key] = ProcessLock(Path(key))
        return _LOCKS[key]


def store_lock(db: str | Path) -> ProcessLock:
    """The writer's lock of a store: `<store>.lock` beside it."""
    db = Path(db)
    return lock_at(db.with_name(db.name + ".lock"))


def device_key(device: str) -> str:
    """The machine-wide name of the device an evaluation on `device` uses: `cpu`, or `cuda:N` with
    N the physical GPU (through CUDA_VISIBLE_DEVICES, which may hold indices or UUIDs)."""
    kind, _, index = device.partition(":")
    if kind != "cuda":
        return kind
    i = int(index or 0)
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    return f"cuda:{visible[i] if i < len(visible) else i}"


def lock_dir() -> Path:
    """The machine's folder of device locks, made world-writable and sticky like /tmp."""
    folder = Path(os.environ.get(LOCK_DIR_ENV) or DEFAULT_LOCK_DIR)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            if folder.stat().st_uid == os.getuid() and not os.environ.get(LOCK_DIR_ENV):
                folder.chmod(0o1777)
    except OSError as e:
        raise OSError(e.errno, f"cannot make the device lock folder {folder} ({e.strerror}); set {LOCK_DIR_ENV}") from None
    if folder.is_symlink() or not stat.S_ISDIR(folder.lstat().st_mode):
        raise OSError(errno.ENOTDIR, f"{folder} is not a plain folder; set {LOCK_DIR_ENV}")
    return folder


def device_lock(device: str, gpu: str | None = None) -> ProcessLock:
    """The machine-wide lock of one device (see module doc). `gpu`: the CUDA_VISIBLE_DEVICES entry
    an evaluation's workers are given (EvalOptions.gpu, a physical index or UUID), when it has one."""
    key = f"cuda:{gpu}" if gpu is not None and device.startswith("cuda") else device_key(device)
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", key)
    return lock_at(lock_dir() / f"device-{name}.lock")
