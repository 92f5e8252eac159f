"""Is the process that owns a stored run still alive?

A run killed with SIGKILL (or by a power cut) cannot mark itself stopped: the store keeps its
status 'running'. The owner recorded with the run (host, pid and the process's start time, so a
reused pid is not mistaken for it) tells a dead run from a live one. Standard library only.
"""

from __future__ import annotations

import os
import socket


def current_owner() -> str:
    """This process, as stored with the runs it writes: 'host:pid:start'."""
    return f"{socket.gethostname()}:{os.getpid()}:{_start_ticks(os.getpid())}"


def owner_alive(owner: str | None) -> bool | None:
    """True or False for an owner on this host; None when it cannot be told (none recorded, or
    another host)."""
    if not owner:
        return None
    host, _, rest = owner.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    ticks = _start_ticks(int(pid_text))
    return ticks is not None and str(ticks) == start


def shown_status(status: str, owner: str | None) -> str:
    """The status to show: a 'running' run whose owner is gone is 'stopped'."""
    if status != "running":
        return status
    alive = owner_alive(owner)
    if alive is False:
        return "stopped (its process is gone; `kernelswarm run --resume` continues it)"
    if alive is None and owner:
        return f"running on {owner.partition(':')[0]} (cannot be checked from here)"
    if alive is None:
        return "running, or stopped (this store does not record its process)"
    return "running"


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux); None where there is no /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
    except OSError:
        return None
    # Field 22; the command name (field 2) is parenthesised and may hold spaces.
    fields = stat[stat.rfind(")") + 2:].split()
    return int(fields[19]) if len(fields) > 19 and fields[19].isdigit() else None
