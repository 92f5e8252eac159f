"""One lock per device, shared by every evaluation and baseline a supervisor runs at once.

A timing needs the device, and the machine, to itself. Holding the lock (`exclusive()`) stops
every worker process of every other evaluation (SIGSTOP to its process group) for as long as the
timing lasts and resumes them afterwards (SIGCONT). A stopped process runs nothing at all: no
compile, no correctness trial, no native thread a hostile candidate left behind. What it had
already queued on the GPU may still be draining; the timing worker waits for the device to be
quiet before it measures (the backend's `settle`). Between timings everything else (starting
workers, compiling, correctness trials, checks) runs freely and side by side, so a long compile
never holds a timing up.

Timings go in arrival order. The time a thread waits for the lock, and the time its own worker
processes spend stopped by other threads' timings, are its own (`waited_s()`): the evaluator adds
them to the candidate's deadline, since neither is the candidate's doing. `solo()` is the same
hold around a whole evaluation (a retry after running out of device memory beside others); the
holding thread's nested acquisitions pass straight through.

Worker processes join with `register(pgid)` from the thread that owns them (their evaluation's)
and leave with `unregister(pgid)` once killed.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator

from kernelswarm.evaluate.worker import contain


class DeviceLock:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._owner: int | None = None  # thread holding the device
        self._depth = 0
        self._hold_start = 0.0
        self._queue: list[int] = []  # threads waiting for it, oldest first
        self._groups: dict[int, int] = {}  # worker process group -> the thread that owns it
        self._stopped: set[int] = set()  # groups stopped for the current hold
        self._paused_since: dict[int, float] = {}  # owner thread -> start of its current stop
        self._paused: dict[int, float] = {}  # owner thread -> seconds its workers spent stopped
        self._waited: dict[int, float] = {}  # thread -> seconds spent waiting for the lock
        self.holds: list[tuple[str, float, float]] = []  # (what, start, seconds) per hold, for reports

    # -- worker processes -----------------------------------------------------------------------
    def register(self, pgid: int) -> None:
        """A worker process group owned by the calling thread; stopped at once if a timing is on."""
        me = threading.get_ident()
        with self._cond:
            self._groups[pgid] = me
            if self._owner is not None and self._owner != me:
                self._stop(pgid, me, time.monotonic())

    def unregister(self, pgid: int) -> None:
        with self._cond:
            self._groups.pop(pgid, None)
            if pgid in self._stopped:
                self._stopped.discard(pgid)
                signal_group(pgid, signal.SIGCONT)

    def _stop(self, pgid: int, owner: int, now: float) -> None:
        signal_group(pgid, signal.SIGSTOP)
        self._stopped.add(pgid)
        self._paused_since.setdefault(owner, now)

    def _resume_all(self, now: float) -> None:
        for pgid in self._stopped:
            signal_group(pgid, signal.SIGCONT)
        self._stopped.clear()
        for owner, since in self._paused_since.items():
            self._paused[owner] = self._paused.get(owner, 0.0) + (now - since)
        self._paused_since.clear()

    def kill_workers(self) -> None:
        """Kill every registered worker process group (a run abandoned in the middle)."""
        with self._cond:
            for pgid in list(self._groups):
                signal_group(pgid, signal.SIGKILL)

    # -- time that is not the candidate's ---------------------------------------------------------
    def paused_s(self, owner: int | None = None) -> float:
        """Seconds the worker processes of `owner` (default: the calling thread) have spent stopped."""
        owner = threading.get_ident() if owner is None else owner
        with self._cond:
            since = self._paused_since.get(owner)
            return self._paused.get(owner, 0.0) + (time.monotonic() - since if since is not None else 0.0)

    def waited_s(self) -> float:
        """Seconds the calling thread has lost to the device being someone else's: waiting for the
        lock, and its worker processes stopped during other timings."""
        me = threading.get_ident()
        return self._waited.get(me, 0.0) + self.paused_s(me)

    # -- the hold -----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def exclusive(self, what: str = "timing") -> Iterator[None]:
        me = threading.get_ident()
        with self._cond:
            if self._owner != me:
                since, paused_before = time.monotonic(), self.paused_s(me)
                self._queue.append(me)
                try:
                    while self._owner is not None or self._queue[0] != me:
                        self._cond.wait()
                finally:
                    self._queue.remove(me)
                    self._cond.notify_all()
                now = time.monotonic()
                # Time this thread's workers were stopped meanwhile is counted once, as pause.
                lost = (now - since) - (self.paused_s(me) - paused_before)
                self._waited[me] = self._waited.get(me, 0.0) + max(0.0, lost)
                self._owner = me
                self._hold_start = now
                for pgid, owner in self._groups.items():
                    if owner != me:
                        self._stop(pgid, owner, now)
            self._depth += 1
        try:
            yield
        finally:
            with self._cond:
                self._depth -= 1
                if self._depth == 0:
                    now = time.monotonic()
                    self._resume_all(now)
                    self.holds.append((what, self._hold_start, now - self._hold_start))
                    self._owner = None
                    self._cond.notify_all()

    def solo(self) -> contextlib.AbstractContextManager[None]:
        """The same hold around a whole evaluation."""
        return self.exclusive("solo")


def signal_group(pgid: int, sig: int, before_continue: Callable[[], None] | None = None) -> None:
    """Send `sig` to a worker that may already be gone: its process group and every other process
    of its session (a worker's session and group ids are both its pid; a candidate's process can
    leave the group, not the session: contain.signal_session). A contained worker's processes are
    found in its PID namespace's own /proc where it was registered (members.py)."""
    from kernelswarm.evaluate.parent import members

    contain.signal_session(pgid, sig, before_continue, members.view_of(pgid))


class NoLock:
    """An evaluation alone on its device (a single `kernelswarm eval`): every hold is free."""

    def exclusive(self, what: str = "timing") -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def solo(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def register(self, pgid: int) -> None:
        pass

    def unregister(self, pgid: int) -> None:
        pass

    def paused_s(self, owner: int | None = None) -> float:
        return 0.0

    def waited_s(self) -> float:
        return 0.0


NO_LOCK = NoLock()
