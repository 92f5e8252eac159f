"""What a candidate may leave behind that is not a process or a file: kernel objects keyed by a
test's tag (cheat/ipc_left, cheat/keyring_stash, cheat/native_leftovers). Each found is removed
after it is reported, so that a failing test leaves nothing on the machine either."""

from __future__ import annotations

import ctypes
import os
import zlib


def ipc_key(tag: str) -> int:
    return zlib.crc32(tag.encode()) & 0x7FFFFFFF


def kernel_leftovers(tag: str) -> list[str]:
    """System V segments, queues and semaphore sets with the tag's key, a POSIX message queue and
    a key in a keyring named after the tag: described, and removed."""
    found = []
    key = ipc_key(tag)
    libc = ctypes.CDLL(None, use_errno=True)
    for kind, get, remove in (("shm", lambda: libc.shmget(key, 0, 0), lambda i: libc.shmctl(i, 0, None)),
                              ("msg", lambda: libc.msgget(key, 0), lambda i: libc.msgctl(i, 0, None)),
                              ("sem", lambda: libc.semget(key, 0, 0), lambda i: libc.semctl(i, 0, 0))):
        ident = get()
        if ident >= 0:
            found.append(f"System V {kind} {key:#x}")
            remove(ident)
    try:
        rt = ctypes.CDLL("librt.so.1", use_errno=True)
        name = f"/ks-escape-{tag}".encode()
        mq = rt.mq_open(name, os.O_RDONLY)
        if mq >= 0:
            found.append(f"POSIX message queue {name.decode()}")
            rt.mq_close(mq)
            rt.mq_unlink(name)
    except OSError:
        pass
    try:
        with open("/proc/keys") as f:
            for line in f:
                if f"ks-escape-{tag}" in line:
                    found.append(f"keyring key {line.split()[0]}")
                    libc.syscall(250, 21, int(line.split()[0], 16))  # keyctl(KEYCTL_INVALIDATE)
    except OSError:
        pass
    return found
