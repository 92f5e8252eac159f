"""A wall-time budget for one `optimize` (`--time-budget`, `time_budget=`): what needs no
candidate gets its time first, the tasks' search shares what is left.

Order of spending: capture and cut; the whole model's eager and torch.compile window, torch.compile
bounded (`compile_limit`: by default COMPILE_SHARE of the budget; past it eager is timed alone and
torch.compile is "not measured in time"); then the search, which must end by its deadline: the
budget's end less the judgement's reserve. The reserve is the assembled model's evaluations (with
the user's weights, with redrawn ones, and torch.compile(assembled) when torch.compile of the whole
model was measured), each about as long as the whole model's window (overlapped with --jobs > 1;
training mode adds the optimizer steps' processes). No task starts when it would not fit (a task
is estimated as the longest so far, before the first a quarter of the whole model's window), and
no evaluation of the search runs past the deadline (Supervisor.deadline: cut there, its verdict
says it ran out of time). The judgement then runs the evaluations that still fit: all, or
without torch.compile(assembled), or none (the faster baseline stands, and says so).
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


COMPILE_SHARE = 0.4  # of the budget, at most, for the whole model's eager and torch.compile window
MARGIN = 0.03  # of the budget, left between the search's deadline and the judgement's reserve


class TimeBudget:
    """What the search may still start, and whether the assembled model's judgement fits. Fed by
    the run's stages (`stage`) and the supervisor's events (`event`, from its threads: locked)."""

    def __init__(self, seconds: float, jobs: int = 1, train: bool = False,
                 also: Callable[[], bool] | None = None, clock: Callable[[], float] = time.monotonic,
                 compiled_form: bool = True) -> None:
        self.seconds, self.jobs, self.train, self.also, self.clock = seconds, jobs, train, also, clock
        self.start = clock()
        self.whole_s = 0.0  # one whole-model window (the baselines' timing call, compile included if in it)
        self.task_s = 0.0  # the longest task so far
        self.searched = False  # the search has ended: only the judgement remains
        self.compiled_form = compiled_form  # torch.compile(assembled) is to be judged (when it fits)
        self.started: dict[str, float] = {}
        self.stopped = False  # said yes once: the run was cut short by the budget
        self._lock = threading.Lock()

    def elapsed(self) -> float:
        return self.clock() - self.start

    def compile_limit(self) -> float:
        """Seconds the whole model's eager and torch.compile window may take."""
        return COMPILE_SHARE * self.seconds

    def reserve(self, compiled: bool | None = None) -> float:
        """The assembled model's judgement: its evaluations (user's weights, redrawn, and compiled
        when `compiled`, by default when asked and torch.compile was measured), overlapped with
        jobs > 1; training mode adds the steps' check (about one more)."""
        n = 3.0 if (self.compiled_form if compiled is None else compiled) else 2.0
        if self.jobs >= 2:
            n = max(1.5, n - 1.0)
        return (n + (1.0 if self.train else 0.0)) * self.whole_s

    def search_deadline(self) -> float:
        """The instant (this clock's) by which every evaluation of the search must have ended: the
        judgement's reserve, and a margin for what comes between (the search's last results
        stored, the assembly written), before the budget's end."""
        return self.start + self.seconds * (1.0 - MARGIN) - self.reserve()

    def fits_judgement(self, compiled: bool) -> bool:
        """Whether the judgement (with torch.compile(assembled) or without) fits what is left."""
        return self.elapsed() + self.reserve(compiled) <= self.seconds

    def should_stop(self) -> bool:
        if self.also is not None and self.also():  # the caller's own stop, not this budget's
            return True
        with self._lock:
            need = self.reserve() + (0.0 if self.searched else max(self.task_s, 0.25 * self.whole_s))
            over = self.elapsed() + need > self.seconds
        self.stopped = self.stopped or over
        return over

    def stage(self, st: Any) -> None:
        """optimize's Stage: the whole model's window (the call that timed its baselines, not an
        attempt at torch.compile that ran out of time), whether torch.compile was measured; the end
        of the search."""
        with self._lock:
            if st.name == "baselines":
                e = getattr(st, "end_to_end", None)
                window = getattr(e, "window_s", None)
                self.whole_s = window if window is not None else st.seconds.get("baselines", 0.0)
                if e is not None and getattr(e, "compile_missing", ""):
                    self.compiled_form = False  # no torch.compile(assembled) without the whole model's
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
    clock = TimeBudget(s.time_budget, s.jobs, s.mode == "train", also=s.should_stop,
                       compiled_form=s.compile_assembled and s.compile_baselines)
    if s.compile_limit is None and s.compile_baselines:
        s = replace(s, compile_limit=clock.compile_limit())
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
