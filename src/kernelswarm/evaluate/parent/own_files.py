"""Reading and writing files in a candidate's folder from the trusted side. Standard library only.

A candidate's process may write in its own folder, links included: a link it made there is
resolved by whoever opens it, and the trusted side does so on the machine's own filesystem, with
its own rights and as its own process. A candidate's log made a link to `/proc/self/environ` put
the evaluator's environment into the evaluation's log tail; one to `/dev/zero` would have read
without end; a link where the parent copies a file into the folder would have overwritten any file
of the user's (adv13: cheat/log_link, candidates_steps/link_out). So nothing here follows a link,
reads anything but a plain file, or reads more than asked.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from pathlib import Path

_NO_LINK = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # no blocking on a FIFO either


def read_tail(path: Path | str, limit: int) -> bytes:
    """The last `limit` bytes of the plain file at `path`; b"" for anything else (a link, a FIFO,
    a device, a folder, nothing)."""
    try:
        fd = os.open(path, os.O_RDONLY | _NO_LINK)
    except OSError:
        return b""
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return b""
        start = max(0, st.st_size - limit)
        return os.pread(fd, min(limit, st.st_size), start)
    except OSError:
        return b""
    finally:
        os.close(fd)


def read_head(path: Path | str, limit: int) -> bytes | None:
    """At most `limit` + 1 bytes from the start of the plain file at `path` (more than `limit`:
    too large); None for anything else."""
    try:
        fd = os.open(path, os.O_RDONLY | _NO_LINK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.pread(fd, limit + 1, 0)
    except OSError:
        return None
    finally:
        os.close(fd)


def copy_into(src: Path | str, dest: Path | str) -> None:
    """`src` (the trusted side's) copied to `dest` in a candidate's folder as a new file: whatever
    sits at `dest` (a link to a file of the user's) is removed first, never written through."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(dest)
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with open(src, "rb") as fin, os.fdopen(fd, "wb") as fout:
        shutil.copyfileobj(fin, fout)
