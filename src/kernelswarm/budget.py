"""The run's budget for model calls: a call's worst cost is reserved before it is made.

Calls run side by side (every agent of a round at once, the next problem's first round ahead of
time), so checking what was spent before each call let a run overshoot by every call in flight:
`--budget 2.5` at $1 a call once stopped after $4.00. Before a call, its worst cost (the prompt
at the input price and `max_tokens` at the output price) is reserved; the call is made only if
what was spent, plus every reservation still open, plus it fits the budget. Once the call's real
cost is stored, its reservation is dropped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kernelswarm.store import Store


class Budget:
    def __init__(self, limit_usd: float | None, spent_usd: Callable[[], float]) -> None:
        self.limit_usd = limit_usd  # None: no limit
        self._spent = spent_usd  # what the stored calls cost so far
        self._open: dict[Hashable, float] = {}  # call -> its reserved worst cost
        self._lock = threading.Lock()

    def reserve(self, call: Hashable, worst_usd: float | None) -> bool:
        """Reserve a call's worst cost; False when it might not fit. A call whose worst cost is
        unknown (None) may go while less than the budget is spent or reserved."""
        if self.limit_usd is None:
            return True
        with self._lock:
            committed = self._spent() + sum(self._open.values())
            fits = committed < self.limit_usd if worst_usd is None else committed + worst_usd <= self.limit_usd
            if fits:
                self._open[call] = worst_usd or 0.0
            return fits

    def settle(self, call: Hashable) -> None:
        """The call's real cost is stored now: drop its reservation."""
        with self._lock:
            self._open.pop(call, None)


_SHARED: dict[tuple[str, int], Budget] = {}
_SHARED_LOCK = threading.Lock()


def run_budget(store: "Store", run_id: int, limit_usd: float | None) -> Budget:
    """The one Budget of a stored run in this process: the supervisors of a run spread over
    several GPUs (scale.placement) reserve against the same one."""
    key = (str(store.path.resolve()), run_id)
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = Budget(limit_usd, lambda: store.run_cost(run_id))
        return _SHARED[key]
