"""Bounds on what a candidate's processes may use together: the disk in their folder, and memory.

Disk (issue 14: a candidate filled the disk).

The worker's folder is the one place a sandboxed candidate may write (sandbox.py), and it lies on
the machine's disk: many files, none of them large, pass any per-file limit, and the disk fills
for every other process on the machine. No kernel quota is at hand for one folder, so the
evaluator watches it: the filesystem's free space is read every `POLL_S` (one system call), and
the folder is walked whenever the space dropped by as much as the candidate still had left (and
every `WALK_S` anyway); when the folder has grown past the bound since the worker started, every
process of the worker is killed and the evaluation is rejected with the figure. The compile caches
copied in before it started do not count; builds and caches of honest candidates stay far below
the bound (a C++ or CUDA extension's build: about 100-300 MB).

Memory: a worker's address-space limit (RLIMIT_AS) is per process, and a candidate that forks
children, each under it, held more memory together than the machine has (cheat's
isolation/memory_hoard), and on a GPU no address-space limit can be set at all (CUDA reserves
huge ranges). Every `MEM_POLL_S` the resident memory of every process of the worker's session
(which none of them can leave) is added up; past the bound (KERNELSWARM_MEMORY_MB, else the
worker's own limit, else 60% of the machine's memory) they are all killed, as for the disk.
Standard library only.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

DISK_MB = 2048  # KERNELSWARM_DISK_MB overrides
POLL_S, WALK_S, MEM_POLL_S = 0.25, 5.0, 1.0  # a /proc scan a second: cheap beside a timing
MEMORY_SHARE = 0.6  # of the machine's memory, where nothing else sets the bound


def limit_bytes() -> int:
    try:
        mb = int(os.environ.get("KERNELSWARM_DISK_MB") or DISK_MB)
    except ValueError:
        mb = DISK_MB
    return max(mb, 16) << 20


def memory_bound(limit: int | None = None) -> int:
    """Bytes of resident memory a worker's processes may hold together."""
    try:
        mb = int(os.environ.get("KERNELSWARM_MEMORY_MB") or 0)
    except ValueError:
        mb = 0
    if mb > 0:
        return mb << 20
    if limit:
        return limit
    try:
        return int(MEMORY_SHARE * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError):
        return 0


def resident(sid: int, disk_dev: int | None = None) -> int:
    """Resident bytes of every live process of session `sid`: of a contained worker, of every
    process of its PID namespace, read in the namespace's own /proc (members.py); and the bytes of
    the files they hold open whose names are gone (`unlinked`), but for those on device
    `disk_dev` (the worker's folder's: the disk's bound counts them)."""
    from kernelswarm.evaluate.parent import members
    from kernelswarm.evaluate.worker import contain

    page, total = os.sysconf("SC_PAGE_SIZE"), 0
    view = members.view_of(sid)
    for pid in view.states() if view is not None else contain.session_members(sid):
        try:
            if view is not None:
                raw = view.read(pid, "statm")
            else:
                with open(f"/proc/{pid}/statm", "rb") as f:
                    raw = f.read()
            total += int(raw.split()[1]) * page
        except (OSError, ValueError, IndexError):
            continue
    return total + sum(n for (dev, _), n in unlinked(sid).items() if dev != disk_dev)


def unlinked(sid: int) -> dict[tuple[int, int], int]:
    """Files the processes of session `sid` hold open whose names are gone (memfds, deleted
    files), by (device, inode), with the bytes each occupies: memory or disk that neither a
    resident set nor a walk of the folder counts. A memfd written with write() and never mapped
    held 600 MiB beyond both (cheat/isolation/memfd_hoard, adv17), a file deleted while held open
    in its folder 512 MiB past the disk's bound (isolation/unlinked_disk_fill). A worker's own
    outputs travel in memfds (wire/sealed.py), as large as the outputs, for a moment."""
    from kernelswarm.evaluate.parent import members
    from kernelswarm.evaluate.worker import contain

    view = members.view_of(sid)
    found: dict[tuple[int, int], int] = {}
    if view is not None:
        for pid in view.states():
            found.update(view.unlinked(pid))
    else:
        for pid in contain.session_members(sid):
            found.update(members.unlinked_of(pid))
    return found


def usage(folder: Path | str) -> int:
    """Bytes the files under `folder` occupy on disk (links not followed; what vanishes meanwhile
    is skipped)."""
    return walk(folder)[0]


# Folders nested deeper than this in a worker's folder are a violation of their own: the walk
# holds a descriptor per level (honest builds nest a dozen levels).
MAX_NEST = 128
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def walk(folder: Path | str) -> tuple[int, str | None]:
    """Bytes the files under `folder` occupy on disk, and what stopped the walk from seeing all
    of them (None: nothing). Walked by descriptors, each folder opened from its parent's: a chain
    of folders whose path is longer than the system's limit cannot be opened by name, and a walk
    by path skipped it, with everything written at its end (isolation/deep_disk_fill, adv17). A
    folder it cannot open or read (made unreadable), or nesting past MAX_NEST, is a finding."""
    total = 0
    frames: list[tuple[int, list[str]]] = []  # per open level: its descriptor, subfolders left

    def enter(fd: int) -> None:
        nonlocal total
        subdirs = []
        try:
            with os.scandir(fd) as entries:
                for e in entries:
                    try:
                        st = e.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    total += st.st_blocks * 512
                    if stat.S_ISDIR(st.st_mode):
                        subdirs.append(e.name)
        except BaseException:
            os.close(fd)
            raise
        frames.append((fd, subdirs))

    try:
        try:
            root = os.open(folder, _DIR)
        except FileNotFoundError:
            return 0, None  # no folder (yet, or any more)
        enter(root)
        while frames:
            fd, subdirs = frames[-1]
            if not subdirs:
                os.close(fd)
                frames.pop()
                continue
            name = subdirs.pop()
            if len(frames) >= MAX_NEST:
                return total, f"nests folders deeper than {MAX_NEST}"
            try:
                child = os.open(name, _DIR, dir_fd=fd)
            except PermissionError:
                raise
            except OSError:  # gone, or no longer a folder (a build replacing its outputs)
                continue
            enter(child)
    except OSError as e:  # a folder made unreadable
        return total, f"holds a folder the evaluator cannot read ({e.strerror})"
    finally:
        for fd, _ in frames:
            os.close(fd)
    return total, None


def _free(folder: str) -> int:
    try:
        st = os.statvfs(folder)
    except OSError:
        return 0
    return st.f_bavail * st.f_frsize


class Guard:
    """Watches `folder` (and, with `sid`, the memory of that session's processes) from a thread of
    its own; calls `on_exceed(reason)` once, from that thread, when a bound is passed."""

    def __init__(self, folder: Path, on_exceed: Callable[[str], None], limit: int | None = None,
                 sid: int | None = None, memory: int | None = None) -> None:
        self.folder = str(folder)
        self.limit = limit_bytes() if limit is None else limit
        self.sid = sid
        self.memory = memory_bound(memory) if sid is not None else 0
        self.on_exceed = on_exceed
        self._stop = threading.Event()
        self._base = usage(self.folder)
        try:
            self._dev: int | None = os.stat(self.folder).st_dev
        except OSError:
            self._dev = None
        self._thread = threading.Thread(target=self._watch, name="kernelswarm-guard", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _unlinked_here(self) -> int:
        """Bytes of files in the folder's filesystem that the worker's processes hold open after
        deleting them: no walk of the folder finds them (isolation/unlinked_disk_fill)."""
        if self.sid is None or self._dev is None:
            return 0
        return sum(n for (dev, _), n in unlinked(self.sid).items() if dev == self._dev)

    def _watch(self) -> None:
        grown, free_then, next_walk = 0, _free(self.folder), time.monotonic() + WALK_S
        next_mem = time.monotonic()
        while not self._stop.wait(POLL_S):
            if self.sid is not None and self.memory and time.monotonic() >= next_mem:
                next_mem = time.monotonic() + MEM_POLL_S
                held = resident(self.sid, self._dev)
                if held > self.memory and not self._stop.is_set():
                    self.on_exceed(f"its processes held {held / 2**20:.0f} MiB of memory together, past the "
                                   f"bound of {self.memory / 2**20:.0f} MiB (KERNELSWARM_MEMORY_MB)")
                    return
            free = _free(self.folder)
            # Whatever the filesystem lost since the last walk may be the candidate's: walk once
            # that could have taken it past the bound.
            if free_then - free < self.limit - grown and time.monotonic() < next_walk:
                continue
            used, unseen = walk(self.folder)
            grown = used - self._base + self._unlinked_here()
            free_then, next_walk = free, time.monotonic() + WALK_S
            if unseen and not self._stop.is_set():
                self.on_exceed(f"its folder {unseen}: what it holds cannot be bounded")
                return
            if grown > self.limit and not self._stop.is_set():
                self.on_exceed(f"its folder grew by {grown / 2**20:.0f} MiB, past the bound of "
                               f"{self.limit / 2**20:.0f} MiB (KERNELSWARM_DISK_MB)")
                return
