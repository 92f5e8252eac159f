"""Time limits in tests that hold on a busy machine.

A limit that a test asserts (a call must answer within N seconds, an evaluation must fit its
timeout) is written for an idle machine and stretched by `allow`: by the machine's current load
per core (at least 1), or by KERNELSWARM_TEST_SLACK when set. Limits that a test expects to be
hit (a hang that must time out) need no stretching.
"""

from __future__ import annotations

import os

SLACK_ENV = "KERNELSWARM_TEST_SLACK"


def factor() -> float:
    """How many times slower than idle this machine may run now."""
    if os.environ.get(SLACK_ENV):
        return max(1.0, float(os.environ[SLACK_ENV]))
    try:
        per_core = os.getloadavg()[0] / (os.cpu_count() or 1)
    except OSError:
        per_core = 0.0
    return max(1.0, 1.5 * per_core)  # with headroom: the load can rise after it was read


def allow(seconds: float) -> float:
    """`seconds` on an idle machine, stretched for the load now."""
    return seconds * factor()
