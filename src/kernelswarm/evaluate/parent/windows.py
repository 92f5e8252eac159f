"""Windows of timed calls: a clock's verdict of a lie is measured again in fresh windows before it
stands (timing.time_candidate), and which window's verdict stands."""

from __future__ import annotations

import os
import time
from typing import Any

from kernelswarm.evaluate.parent import wallclock
from kernelswarm.evaluate.parent.options import EvalOptions

# A clock's verdict of a lie is measured again this many times (fresh windows) before it stands.
REMEASURE = 2


def confirm_charges() -> bool:
    """Whether a charge must show in every window (KERNELSWARM_CONFIRM_CHARGES=1; off by default).

    Not the default yet: under load 6-8 the least charge of three windows let cheat/noop_flush
    and cheat/swapped_timer through at 1.9x (their fixtures allow 1.4x; the relative bound's
    noise exceeds a 0.19 ms lie in some window), and the extra windows ran cheat/reply_rewrite
    and cheat/reply_shave past their time limits. Kept for measurement (benchmarks/copy_charges.py) until the charges rest on a
    measure that load does not swamp."""
    return os.environ.get("KERNELSWARM_CONFIRM_CHARGES", "0") == "1"


def settled(verdict: wallclock.ClaimVerdict) -> bool:
    """Whether a clock's verdict needs no further window: believed and charged nothing, or a
    structural finding that load cannot sway.

    Every wall-clock charge is one-sided: noise that falls on the candidate's side is charged,
    noise on the other side is not. On this 2-core CPU under heavy load (load average 8-11) a
    request waits 5-30 ms for a core and a 25 ms burst of calls takes 150-750 ms, and one window's
    charge of a copy of the reference was noise in about half the evaluations: copies measured
    0.13-0.8x with intervals excluding 1 while their claimed times matched the reference's within
    3% (docs/benchmarks.md, session 9). An under-claim shows in every window; noise does not."""
    return not verdict.noisy or (verdict.believed and verdict.charge <= 1.0)


def least_charged(windows: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    """Of windows each ending in its ClaimVerdict, the believed one charged least (its samples
    with it); where none was believed, the last (a lie in every window)."""
    believed = [w for w in windows if w[-1].believed]
    if not believed:
        return windows[-1]
    return min(believed, key=lambda w: w[-1].charge)


def standing(windows: list[tuple[Any, ...]], chosen: tuple[Any, ...]) -> tuple[Any, ...]:
    """`chosen` (the window whose verdict stands), unless it was left undecided (the candidate
    waited, cputime.waited) where an earlier window found a lie its CPU time did not clear: then
    that lie. A wait in one window excuses no other window's lie."""
    if not chosen[-1].undecided:
        return chosen
    lies = [w for w in windows if not w[-1].believed and not w[-1].undecided]
    return lies[-1] if lies else chosen


def short_of_time(o: EvalOptions, deadline: float) -> bool:
    return deadline - time.monotonic() < 0.4 * o.timeout_s

