"""One scheduling weight for an evaluation's workers: the same nice in each one's autogroup.

Each worker leads its own session, and on Linux with autogroups (`kernel.sched_autogroup_enabled`)
each session is its own scheduling group, weighed by the group's nice. Under load on a 2-core CPU
the reference's worker, left at the default weight, waited 2.4-4.6x longer for a core during its
timed calls than the candidate's worker did, while their work was alike, and copies of the
reference "won" 1.2-3.9x by their claims; with the reference's, the candidate's and the flush
worker's autogroups all at nice -10 the waits were alike (claims 0.85-1.14 in 8 of 10:
docs/benchmarks.md, session 12 "why copies win under load"). A heavier weight than the load's
own groups is what evened them out; the same weight for all three is what keeps it fair (see
DEFAULT_NICE for why 0 is the default).

The candidate cannot undo it: its worker has no capabilities (a lower nice needs CAP_SYS_NICE)
and may write only in its own folder; a higher nice of its own group slows only itself.

Standard library only.
"""

from __future__ import annotations

import errno
import os
import time
from dataclasses import dataclass
from pathlib import Path

ENV = "KERNELSWARM_AUTOGROUP_NICE"
# 0, the weight every new session's group starts with: equal, as before session 13. -10 (what
# session 12 measured to even out the waits) gave claims that agree (0.95-1.15 for copies, 6 of 6)
# but is not the default: at load 4-13 on this 2-core CPU the timing cheats crossed their
# bounds with it as without it (sigcont_head_start 9.47x and 8.01x with it, 9.09x without), and
# cheat/noop_flush more often with it (6 of 7 runs at 1.68-3.37x, never rejected) than without
# (3 of 6, rejected in the other 3); copies were still charged below 1 with it
# (docs/benchmarks.md, session 13).
DEFAULT_NICE = 0
OFF = "off"
_ENABLED = Path("/proc/sys/kernel/sched_autogroup_enabled")
# Without CAP_SYS_ADMIN the kernel takes one autogroup write per 100 ms from anyone (EAGAIN
# otherwise): a few retries a little apart get each one through.
_RETRIES, _RETRY_S = 12, 0.11


class BadNice(ValueError):
    """$KERNELSWARM_AUTOGROUP_NICE is not an integer from -20 to 19 nor `off`."""


@dataclass(frozen=True)
class Applied:
    """What an evaluation's workers were scheduled with."""

    requested: int | None  # the nice asked for (None: `off`, nothing written)
    nice: int | None  # the nice every worker's autogroup has now (None: unknown or unequal)
    detail: str  # one line for the evaluation's checks

    @property
    def equal(self) -> bool:
        return self.nice is not None


def requested_nice() -> int | None:
    """$KERNELSWARM_AUTOGROUP_NICE: an integer from -20 to 19 (default 0), or None for `off`.
    Raises BadNice with a one-line message otherwise."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return DEFAULT_NICE
    if raw.lower() == OFF:
        return None
    try:
        nice = int(raw)
    except ValueError:
        raise BadNice(f"{ENV}={raw!r} is not a nice value: give an integer from -20 to 19, or {OFF}") from None
    if not -20 <= nice <= 19:
        raise BadNice(f"{ENV}={raw!r} is out of range: a nice is from -20 to 19 (or {OFF})")
    return nice


def read_nice(pid: int) -> int | None:
    """The nice of `pid`'s autogroup (`/autogroup-123 nice -10`), None where it cannot be read."""
    try:
        return int(Path(f"/proc/{pid}/autogroup").read_text().split()[-1])
    except (OSError, ValueError, IndexError):
        return None


def write_nice(pid: int, nice: int) -> None:
    """Write `nice` into `pid`'s autogroup; OSError where the kernel refuses (EAGAIN retried)."""
    for attempt in range(_RETRIES):
        try:
            with open(f"/proc/{pid}/autogroup", "w") as f:
                f.write(f"{nice}\n")
            return
        except BlockingIOError:
            if attempt == _RETRIES - 1:
                raise
            time.sleep(_RETRY_S)


def equalize(pids: dict[str, int], requested: int | None) -> Applied:
    """Give the autogroups of `pids` (role -> a process of that worker's session) one nice:
    `requested` (requested_nice(); None: leave them) where the kernel allows it, else 0 on all
    (what any owner may write). Never raises: what applied is in the returned record."""
    names = ", ".join(pids)
    if requested is None:
        return _as_found(pids, None, f"not set ({ENV}={OFF})")
    if not _ENABLED.exists() or not all(Path(f"/proc/{p}/autogroup").exists() for p in pids.values()):
        return Applied(requested, None, "no autogroups on this kernel: the workers are scheduled as plain processes")
    if _ENABLED.read_text().strip() == "0":
        return Applied(requested, None, "autogroups are off (kernel.sched_autogroup_enabled 0): "
                       "the workers are scheduled as plain processes")
    why = _write_all(pids, requested)
    if not why:
        return _as_found(pids, requested, f"nice {requested} for {names}")
    if requested == 0:
        return _as_found(pids, requested, f"nice 0 could not be written ({why})")
    # A negative nice needs CAP_SYS_NICE: fall back to what any owner may write, on all of them.
    fallback = _write_all(pids, 0)
    if fallback:
        return _as_found(pids, requested, f"neither nice {requested} ({why}) nor 0 ({fallback}) could be written")
    return _as_found(pids, requested, f"nice 0 for {names}: nice {requested} could not be written ({why})")


def _write_all(pids: dict[str, int], nice: int) -> str:
    """'' once every autogroup of `pids` has `nice`, else why not (one line)."""
    for role, pid in pids.items():
        if read_nice(pid) == nice:  # a fresh session's group starts at 0: nothing to write
            continue
        try:
            write_nice(pid, nice)
        except OSError as e:
            name = errno.errorcode.get(e.errno or 0, e.__class__.__name__)
            hint = ": needs CAP_SYS_NICE" if e.errno in (errno.EPERM, errno.EACCES) and nice < 0 else ""
            return f"{role}'s worker: {name}{hint}"
    return ""


def _as_found(pids: dict[str, int], requested: int | None, what: str) -> Applied:
    """The record, from the nice values read back."""
    found = {role: read_nice(pid) for role, pid in pids.items()}
    values = set(found.values())
    if len(values) == 1 and None not in values:
        nice = values.pop()
        return Applied(requested, nice, f"autogroups: {what}; all at nice {nice}")
    shown = ", ".join(f"{role} {'?' if n is None else n}" for role, n in found.items())
    return Applied(requested, None, f"autogroups: {what}; not equal: {shown}")
