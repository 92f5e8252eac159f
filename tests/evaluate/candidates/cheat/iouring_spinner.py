# kernelswarm-test: problem=matmul verdict=rejected|accepted static=off max_speedup=1.4 calls=60
# Work that a stopped process might not stop: the candidate's worker is stopped (SIGSTOP to its
# session) while the clean worker times the reference and the empty calls, but an io_uring's
# kernel-side threads are not ordinary threads of it. It makes a ring with a submission-polling
# kernel thread (IORING_SETUP_SQPOLL, no privilege since Linux 5.11) told to poll for ten minutes
# after each submission, and pokes it with a no-op at every call: that thread spins on a core of
# its own. If it kept spinning while the worker is stopped it would slow the reference (on this
# 2-core machine, by up to half) and lift a plain copy's speedup. Linux 6.18 stops io_uring's
# threads with their process (iou-sqp in state T, no CPU time while stopped), so it is timed as
# the copy it is; io_uring is otherwise open to candidates (nothing legitimate needs it either).
import ctypes
import mmap
import struct

import torch
from torch import nn

_libc = ctypes.CDLL(None, use_errno=True)
_ring = {}


def _setup():
    params = (ctypes.c_uint32 * 30)()
    params[2], params[4] = 2, 600000  # IORING_SETUP_SQPOLL; sq_thread_idle in ms
    fd = _libc.syscall(425, 8, params)
    if fd < 0:
        return
    entries, off = params[0], list(params[10:20])
    sq = mmap.mmap(fd, off[6] + entries * 4, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
    sqes = mmap.mmap(fd, entries * 64, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=0x10000000)
    _ring.update(fd=fd, sq=sq, sqes=sqes, off=off, entries=entries)
    _poke()


def _poke():
    """One no-op submitted: the polling thread wakes (if it slept) and spins again."""
    if not _ring:
        return
    sq, off = _ring["sq"], _ring["off"]
    tail = struct.unpack_from("I", sq, off[1])[0]
    slot = tail & (_ring["entries"] - 1)
    _ring["sqes"][slot * 64:(slot + 1) * 64] = bytes(64)  # IORING_OP_NOP
    struct.pack_into("I", sq, off[6] + 4 * slot, slot)
    struct.pack_into("I", sq, off[1], tail + 1)
    if struct.unpack_from("I", sq, off[4])[0] & 1:  # IORING_SQ_NEED_WAKEUP
        _libc.syscall(426, _ring["fd"], 1, 0, 2, None, 0)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()
        _setup()

    def forward(self, a, b):
        _poke()
        return torch.matmul(a, b)
