"""A wall-time budget for one `optimize` (`--time-budget`, `time_budget=`): before each task's
search and before the assembled model is judged, the run asks whether what comes next still fits.

What comes next is estimated from what this run has measured itself: a task takes as long as the
longest task so far (before the first, a quarter of the whole model's baselines), and judging the
assembled model takes three whole-model evaluations, each about as long as the window that timed
eager and torch.compile of the whole model (two when --jobs > 1 overlaps their starts and checks;
training mode adds the optimizer steps' processes). A task already searching runs to its end: its
evaluations are bounded by --timeout, not by this budget, so the budget is a target, not a kill.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_seconds(text: str) -> float:
    """'900', '900s', '15m', '1.5h' as seconds; ValueError (one line) otherwise."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(s|m|min|h)?\s*", text.lower())
    if m is None:
        raise ValueError(f"a time budget is seconds, or a number with s, m or h (900, 15m, 1.5h), not {text!r}")
    seconds = float(m.group(1)) * _UNITS[m.group(2) or ""]
    if seconds <= 0:
        raise ValueError(f"a time budget must be more than 0 seconds, not {text!r}")
    return seconds


class TimeBudget:
    """What the search may still start, and whether the assembled model's judgement fits. Fed by
    the run's stages (`stage`) and the supervisor's events (`event`, from its threads: locked)."""

    def __init__(self, seconds: float, jobs: int = 1, train: bool = False,
                 also: Callable[[], bool] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds, self.jobs, self.train, self.also, self.clock = seconds, jobs, train, also, clock
        self.start = clock()
        self.whole_s = 0.0  # the whole model's baselines' wall time
        self.task_s = 0.0  # the longest task so far
        self.searched = False  # the search has ended: only the judgement remains
        self.started: dict[str, float] = {}
        self.stopped = False  # said yes once: the run was cut short by the budget
        self._lock = threading.Lock()

    def elapsed(self) -> float:
        return self.clock() - self.start

    def reserve(self) -> float:
        """The assembled model's judgement: its evaluations (user's weights, redrawn, compiled),
        overlapped with jobs > 1; training mode adds the steps' check (about one more)."""
        n = (3.0 if self.jobs < 2 else 2.0) + (1.0 if self.train else 0.0)
        return n * self.whole_s

    def should_stop(self) -> bool:
        if self.also is not None and self.also():  # the caller's own stop, not this budget's
            return True
        with self._lock:
            need = self.reserve() + (0.0 if self.searched else max(self.task_s, 0.25 * self.whole_s))
            over = self.elapsed() + need > self.seconds
        self.stopped = self.stopped or over
        return over

    def stage(self, st: Any) -> None:
        """optimize's Stage: the baselines' wall time; the end of the search."""
        with self._lock:
            if st.name == "baselines":
                self.whole_s = st.seconds.get("baselines", 0.0)
            elif st.name == "searched":
                self.searched = True

    def event(self, e: Any) -> None:
        """The supervisor's Event: a task's start, and its length when it is done."""
        with self._lock:
            if e.kind == "problem":
                self.started[e.problem] = self.clock()
            elif e.kind == "done" and e.problem in self.started:
                self.task_s = max(self.task_s, self.clock() - self.started.pop(e.problem))


def clocked(s: Any, on_event: Callable | None) -> tuple[Any, Callable | None, TimeBudget | None]:
    """optimize's Settings with a time budget: settings whose should_stop asks it (and the
    caller's own), and stage and event hooks that feed it what this run measures."""
    if s.time_budget is None:
        return s, on_event, None
    clock = TimeBudget(s.time_budget, s.jobs, s.mode == "train", also=s.should_stop)
    told = s.on_stage

    def stage(st: Any) -> None:
        clock.stage(st)
        if told is not None:
            told(st)

    def event(e) -> None:
        clock.event(e)
        if on_event is not None:
            on_event(e)

    return replace(s, should_stop=clock.should_stop, on_stage=stage), event, clock
