"""A contained worker's processes, read from its PID namespace's own /proc, not the machine's;
a clean worker's, from its own process tree (TreeView).

Every stop and continue of a candidate's worker must reach every process it started
(contain.signal_session). Scanning the machine's /proc for the worker's session costs one read
per process on the machine: 2 ms a scan on an H200 host with 183 processes, about five scans a
timed call, 2.7 k scans (5.3 s) in one 1 GiB relu evaluation. A worker in a PID namespace
(contain.py) has its own /proc, which lists its namespace's processes and nothing else: every
process the candidate starts is in it (a new session, a double fork, a nested namespace do not
leave it; an orphan is adopted inside it), and the parent reaches it through the namespace's
first process (`/proc/<init>/root/proc`). Listing it costs a read per process of the candidate's.

The candidate cannot swap that /proc for another: its worker has dropped every capability
(confine.py), so it cannot mount or unmount anything in the namespace's mount namespace, and
a mount namespace of its own (a new user namespace) changes nothing the parent's path goes
through. The view is opened once, before any candidate code runs, and kept as a descriptor;
it is used only when its process 1 is the worker's namespace's first process (where the worker
kept the machine's /proc, it is not, and the session scan stays).

Processes are signalled through descriptors of their /proc folders (pidfd_send_signal), which
name the process itself, not a number another process could take. Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import threading


class NamespaceView:
    """The processes of one contained worker's PID namespace (as `contain.session_states` gives a
    session's): `states()` by the namespace's numbering, `kill(pid, sig)` by the same."""

    def __init__(self, init_pid: int, launcher: int | None = None) -> None:
        """Raises OSError when the namespace's own /proc cannot be read or is not its own.
        `launcher`: the process that made the namespace (the session's leader), held as a pidfd."""
        # Held while read or signalled through: closed by another thread (the worker killed while
        # a device lock stops it), it must not be a reused descriptor number meanwhile.
        self._lock = threading.Lock()
        self._launcher = -1
        self.fd = os.open(f"/proc/{init_pid}/root/proc", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            theirs = os.stat("1/ns/pid", dir_fd=self.fd)
            ours = os.stat(f"/proc/{init_pid}/ns/pid")
            if (theirs.st_dev, theirs.st_ino) != (ours.st_dev, ours.st_ino):
                raise OSError(f"/proc/{init_pid}/root/proc is not its namespace's own /proc")
            self.kill(1, 0)  # this kernel signals through /proc folders (pidfd_send_signal)
            self._launcher = os.pidfd_open(launcher) if launcher is not None else -1
        except BaseException:
            self.close()
            raise

    def _open(self, pid: int) -> int:
        return os.open(str(pid), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=self.fd)

    def states(self) -> dict[int, str]:
        """State (R, S, D, T...) of every live process of the namespace; a zombie whose other
        threads still run counts as running ("R") or stopped ("T") as they are. Empty once closed
        (the worker is being killed)."""
        with self._lock:
            return self._states() if self.fd >= 0 else {}

    def outside_group(self) -> list[int]:
        """The namespace's live processes that are not in the worker's process group, which a
        signal to that group (contain.signal_session) does not reach. The group is led outside the
        namespace (by the launcher, the session's leader), so this /proc reads its members' group
        as 0; any other group is one a process of the candidate's made (setpgid)."""
        with self._lock:
            if self.fd < 0:
                return []
            found = []
            for name in os.listdir(self.fd):
                if not name.isdigit():
                    continue
                fields = self._stat_fields(name)
                try:
                    group = int(fields[2]) if fields else 0
                except (ValueError, IndexError):
                    continue
                if group != 0:
                    found.append(int(name))
            return found

    def _stat_fields(self, name: str) -> list[bytes]:
        """The fields of process `name`'s stat after its command name (state first), read in this
        namespace's /proc; empty when it is gone or unreadable."""
        try:
            fd = os.open(f"{name}/stat", os.O_RDONLY, dir_fd=self.fd)
            try:
                raw = os.read(fd, 1024)
            finally:
                os.close(fd)
            return raw[raw.rindex(b")") + 2:].split(b" ", 4)
        except (OSError, ValueError):
            return []

    def _states(self) -> dict[int, str]:
        found = {}
        for name in os.listdir(self.fd):
            if not name.isdigit():
                continue
            fields = self._stat_fields(name)
            if not fields:
                continue
            state: str | None = fields[0].decode()
            if state in ("Z", "X"):
                state = self._zombie_threads(name)
            if state is not None:
                found[int(name)] = state
        return found

    def _zombie_threads(self, name: str) -> str | None:
        """As contain._zombie_threads, in this namespace's /proc."""
        states = []
        try:
            task = os.open(f"{name}/task", os.O_RDONLY | os.O_DIRECTORY, dir_fd=self.fd)
            try:
                tids = os.listdir(task)
            finally:
                os.close(task)
            for tid in tids:
                with contextlib.suppress(OSError, ValueError):
                    fd = os.open(f"{name}/task/{tid}/stat", os.O_RDONLY, dir_fd=self.fd)
                    try:
                        raw = os.read(fd, 1024)
                    finally:
                        os.close(fd)
                    states.append(raw[raw.rindex(b")") + 2:].split(b" ", 1)[0].decode())
        except OSError:
            return None
        from kernelswarm.evaluate.worker.contain import live_threads_state

        return live_threads_state(states)

    def read(self, pid: int, name: str) -> bytes:
        """The namespace's process `pid`'s /proc file `name` (its first 4 KiB); raises OSError."""
        with self._lock:
            if self.fd < 0:
                raise ProcessLookupError(pid)
            fd = os.open(f"{pid}/{name}", os.O_RDONLY | os.O_CLOEXEC, dir_fd=self.fd)
            try:
                return os.read(fd, 4096)
            finally:
                os.close(fd)

    def unlinked(self, pid: int) -> dict[tuple[int, int], int]:
        """Files process `pid` holds open whose names are gone (memfds, deleted files): bytes
        each occupies, by (device, inode); empty where its descriptors cannot be read."""
        with self._lock:
            if self.fd < 0:
                return {}
            return _unlinked(f"{pid}/fd", self.fd)

    def kill(self, pid: int, sig: int) -> None:
        """Signal the namespace's process `pid`; raises ProcessLookupError when it is gone."""
        with self._lock:
            if self.fd < 0:
                raise ProcessLookupError(pid)
            try:
                fd = self._open(pid)
            except FileNotFoundError:
                raise ProcessLookupError(pid) from None
            try:
                signal.pidfd_send_signal(fd, sig)
            finally:
                os.close(fd)

    def continue_keepers(self) -> None:
        """Continue the namespace's first process and the launcher (contain.py's own code, waiting
        for their child) once the whole session is stopped (contain.signal_session): stopped with
        it, they woke with the worker at every SIGCONT, inside the candidate's clock, where the
        clean worker's requests wake one process. On this 2-core CPU a copy of softmax_rows left
        0.05-0.15 ms a call more unclaimed than the paired reference calls (issue 13)."""
        with self._lock:
            if self.fd < 0:
                return
            with contextlib.suppress(OSError):
                fd = self._open(1)
                try:
                    signal.pidfd_send_signal(fd, signal.SIGCONT)
                finally:
                    os.close(fd)
            if self._launcher >= 0:
                with contextlib.suppress(OSError):
                    signal.pidfd_send_signal(self._launcher, signal.SIGCONT)

    def close(self) -> None:
        with self._lock:
            if self.fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(self.fd)
                self.fd = -1
            if self._launcher >= 0:
                with contextlib.suppress(OSError):
                    os.close(self._launcher)
                self._launcher = -1


class TreeView:
    """A clean worker's processes: the worker and its descendants, found through each thread's
    `/proc/<pid>/task/<tid>/children`, not a scan of the machine's /proc. On the GPU a clean
    worker is stopped and continued around every reference and empty call (flush_symmetric):
    about three scans a timed call, 2 ms each on the H200 host with 183 processes (issue 16).

    For the clean workers only: they run the evaluator's and the problem's code, never a
    candidate's, so nothing of theirs leaves their tree to dodge a stop. One that left it anyway
    (reparented) still gets the signal sent to the worker's process group (signal_session signals
    the group first); only the wait until it has stopped would miss it. A candidate's worker keeps
    its namespace's view or the session scan."""

    def __init__(self, pid: int) -> None:
        """Raises OSError where this kernel lists no children in /proc (CONFIG_PROC_CHILDREN)."""
        os.stat(f"/proc/{pid}/task/{pid}/children")
        self.pid = pid

    def states(self) -> dict[int, str]:
        """State (R, S, D, T...) of the worker and of every live descendant (as contain.session_states)."""
        from kernelswarm.evaluate.worker.contain import live_threads_state

        found: dict[int, str] = {}
        todo, seen = [self.pid], set()
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            seen.add(pid)
            state = _state(f"/proc/{pid}/stat")
            if state in ("Z", "X"):  # a zombie whose other threads may still run
                try:
                    tids = os.listdir(f"/proc/{pid}/task")
                except OSError:
                    continue
                state = live_threads_state([_state(f"/proc/{pid}/task/{t}/stat") or "Z" for t in tids])
            if state:
                found[pid] = state
            todo.extend(children(pid))
        return found

    def outside_group(self) -> list[int]:
        """The worker's live descendants that are not in its process group (the worker leads it),
        which a signal to that group does not reach (as NamespaceView.outside_group)."""
        found: list[int] = []
        todo, seen = [self.pid], set()
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            seen.add(pid)
            group = _group(f"/proc/{pid}/stat")
            if group is not None and group != self.pid:
                found.append(pid)
            todo.extend(children(pid))
        return found

    def read(self, pid: int, name: str) -> bytes:
        """Process `pid`'s /proc file `name` (its first 4 KiB); raises OSError."""
        with open(f"/proc/{pid}/{name}", "rb") as f:
            return f.read(4096)

    def unlinked(self, pid: int) -> dict[tuple[int, int], int]:
        return unlinked_of(pid)

    def kill(self, pid: int, sig: int) -> None:
        os.kill(pid, sig)

    def close(self) -> None:
        pass


def unlinked_of(pid: int) -> dict[tuple[int, int], int]:
    """As NamespaceView.unlinked, for a process of the machine's /proc."""
    return _unlinked(f"/proc/{pid}/fd", None)


def _unlinked(folder: str, dir_fd: int | None) -> dict[tuple[int, int], int]:
    """`folder` (a process's /proc fd folder, relative to `dir_fd`): the regular files among its
    descriptors whose names are gone, by (device, inode), with the bytes each occupies. A memfd
    written and never mapped, or a file deleted while held open, is in no resident set and under
    no folder the guard walks (cheat/isolation/memfd_hoard)."""
    found: dict[tuple[int, int], int] = {}
    try:
        if dir_fd is None:
            names = os.listdir(folder)
        else:
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=dir_fd)
            try:
                names = os.listdir(fd)
            finally:
                os.close(fd)
    except OSError:
        return found
    for name in names:
        try:
            path = f"{folder}/{name}"
            if not os.readlink(path, dir_fd=dir_fd).endswith(" (deleted)"):
                continue
            st = os.stat(path, dir_fd=dir_fd)  # the file itself, through the descriptor's link
        except (OSError, ValueError):
            continue
        if stat.S_ISREG(st.st_mode):
            found[(st.st_dev, st.st_ino)] = st.st_blocks * 512
    return found


def _stat_fields(path: str) -> list[bytes] | None:
    """A /proc stat file's fields after the command's ")": the state, the parent, the process
    group, then the rest unsplit; None where it is gone."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            raw = os.read(fd, 1024)
        finally:
            os.close(fd)
        return raw[raw.rindex(b")") + 2:].split(b" ", 3)
    except (OSError, ValueError):
        return None


def _state(path: str) -> str | None:
    """The state letter of a /proc stat file, or None where it is gone."""
    fields = _stat_fields(path)
    try:
        return fields[0].decode() if fields is not None else None
    except ValueError:
        return None


def _group(path: str) -> int | None:
    """The process group of a /proc stat file, or None where it is gone."""
    fields = _stat_fields(path)
    try:
        return int(fields[2]) if fields is not None else None
    except (ValueError, IndexError):
        return None


def children(pid: int) -> list[int]:
    """The children of every thread of `pid` (empty when it is gone)."""
    found: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                found.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return found


_views: dict[int, NamespaceView | TreeView] = {}
_views_lock = threading.Lock()


def register(sid: int, init_pid: int) -> str:
    """Signal the worker of session `sid` through its namespace's view from now on; returns why
    not ("" when it is used): the session scan then stays."""
    try:
        view = NamespaceView(init_pid, launcher=sid)
    except (OSError, AttributeError) as e:  # AttributeError: no signal.pidfd_send_signal
        return str(e) or type(e).__name__
    return _keep(sid, view)


def register_clean(pid: int) -> str:
    """Signal the clean worker `pid` (its session's and group's id) through its own tree from now
    on (TreeView); returns why not ("" when it is used): the session scan then stays."""
    try:
        view = TreeView(pid)
    except OSError as e:
        return str(e) or type(e).__name__
    return _keep(pid, view)


def _keep(sid: int, view: NamespaceView | TreeView) -> str:
    with _views_lock:
        old = _views.pop(sid, None)
        _views[sid] = view
    if old is not None:
        old.close()
    return ""


def unregister(sid: int) -> None:
    with _views_lock:
        view = _views.pop(sid, None)
    if view is not None:
        view.close()


def view_of(sid: int) -> NamespaceView | TreeView | None:
    return _views.get(sid)
