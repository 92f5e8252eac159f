"""One lock per device, shared by every evaluation and baseline a supervisor runs at once.

Timing needs the device to itself; correctness trials, compilation on first call and the float64
recomputation do not. So the lock has two modes: `exclusive()` for anything that measures time
(candidate timing, baselines, peak rates) and `shared()` for device work that only has to stay out
of a timing's way. Compiles may hold the shared mode for minutes (max-autotune), so sharers keep
entering while a timing waits, until that timing has waited `patience_s`; then new sharers wait
and the timing goes next. The time a thread spends waiting is its own (`waited_s()`): the
evaluator adds it to the candidate's deadline, since waiting for the device is not the candidate's
doing. `solo()` holds the device exclusively for a whole evaluation (a retry after running out of
device memory beside others); the holding thread's nested acquisitions pass straight through.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator


class DeviceLock:
    def __init__(self, patience_s: float = 30.0) -> None:
        self.patience_s = patience_s
        self._cond = threading.Condition()
        self._sharers = 0
        self._exclusive_owner: int | None = None
        self._exclusive_depth = 0
        self._waiting_since: dict[int, float] = {}  # thread -> when it began waiting for exclusive
        self._local = threading.local()

    def waited_s(self) -> float:
        """Seconds the calling thread has spent waiting for this lock, in all."""
        return getattr(self._local, "waited", 0.0)

    def _add_wait(self, since: float) -> None:
        self._local.waited = self.waited_s() + (time.monotonic() - since)

    def _timing_overdue(self) -> bool:
        now = time.monotonic()
        return any(now - t >= self.patience_s for t in self._waiting_since.values())

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        me = threading.get_ident()
        nested = False
        with self._cond:
            if self._exclusive_owner == me:  # inside our own exclusive or solo hold
                nested = True
            else:
                since = time.monotonic()
                while self._exclusive_owner is not None or self._timing_overdue():
                    self._cond.wait(timeout=1.0)  # wake to notice a timing becoming overdue
                self._sharers += 1
                self._add_wait(since)
        try:
            yield
        finally:
            if not nested:
                with self._cond:
                    self._sharers -= 1
                    self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        me = threading.get_ident()
        with self._cond:
            if self._exclusive_owner != me:
                since = time.monotonic()
                self._waiting_since[me] = since
                try:
                    # The longest-waiting timing goes first.
                    while (self._exclusive_owner is not None or self._sharers
                           or min(self._waiting_since, key=self._waiting_since.__getitem__) != me):
                        self._cond.wait(timeout=1.0)
                finally:
                    del self._waiting_since[me]
                self._exclusive_owner = me
                self._add_wait(since)
            self._exclusive_depth += 1
        try:
            yield
        finally:
            with self._cond:
                self._exclusive_depth -= 1
                if self._exclusive_depth == 0:
                    self._exclusive_owner = None
                    self._cond.notify_all()

    solo = exclusive  # the same hold, named for its use around a whole evaluation


class NoLock:
    """An evaluation alone on its device (a single `kernelswarm eval`): every hold is free."""

    def shared(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    exclusive = solo = shared

    def waited_s(self) -> float:
        return 0.0


NO_LOCK = NoLock()
