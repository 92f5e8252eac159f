"""The evaluator's own process, made useless to a candidate that reaches it (Linux).

`/proc/<pid>/environ` shows the environment block a process started with, whatever the process
later did to `os.environ`: a candidate that can read it (same user and no Landlock, or root) read
the model's API key there. `protect_self` overwrites every secret value (redact.py's rule) in that
block in place, so the file shows `xxxx`; Python's own copy in `os.environ`, which the model
clients read, is untouched. As root it also marks the process not dumpable, so that a process
without CAP_SYS_PTRACE (a candidate's worker drops it: confine.py) cannot read its memory
(`/proc/<pid>/mem`) either. Not as another user: the clean reference worker opens the
evaluator's sealed output files through `/proc/<pid>/fd`, which a non-dumpable process of an
ordinary user closes to its own children; there, Landlock's scoping and the PID namespace
(contain.py) keep candidates out.

Standard library only; idempotent and cheap, so it is called before every worker starts (a
models file may register key names late).
"""

from __future__ import annotations

import ctypes
import os
import platform

from kernelswarm import redact

_PR_SET_DUMPABLE = 4


def protect_self() -> str:
    """Scrub this process's initial environment block; returns one line saying what holds."""
    if platform.system() != "Linux":
        return "not on Linux: the environment block is left as it is"
    done = [_scrub_environ_block()]
    if os.geteuid() == 0:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
        done.append("not dumpable")
    return "; ".join(done)


def _scrub_environ_block() -> str:
    try:
        with open("/proc/self/stat") as f:
            text = f.read()
        fields = text[text.rindex(")") + 2:].split()
        start, end = int(fields[47]), int(fields[48])  # env_start, env_end (fields 50 and 51)
    except (OSError, ValueError, IndexError):
        return "environment block not found"
    if not start or end <= start:
        return "environment block not found"
    block = ctypes.string_at(start, end - start)
    scrubbed = 0
    at = 0
    for entry in block.split(b"\0"):
        name, eq, value = entry.partition(b"=")
        if eq and value and _secret(name.decode(errors="replace"), value.decode(errors="replace")):
            ctypes.memset(start + at + len(name) + 1, ord("x"), len(value))
            scrubbed += 1
        at += len(entry) + 1
    return f"{scrubbed} secret values overwritten in /proc/self/environ"


def _secret(name: str, value: str) -> bool:
    if set(value) == {"x"}:
        return False  # already overwritten
    return (redact.is_secret_name(name) and len(value) >= redact.MIN_LENGTH) or value in redact.secret_values()
