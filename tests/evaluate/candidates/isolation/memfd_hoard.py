# Not a fixture of its own: tests/evaluate/test_guard.py evaluates it with a small memory bound.
# A correct ReLU-linear that holds memory no process maps (adv17): the parent adds up the resident
# memory of the worker's processes (guard.py) and each has an address-space limit, but pages of
# shared memory that nothing maps are in neither. It holds HOARD_MIB in memfds written with
# write() and kept open, never mapped, and as much again in a System V segment filled through a
# mapping that is then detached (it lives as long as the IPC namespace, with no process holding
# it). Before, the evaluation never counted either and accepted it; now the memfds held open are
# counted with the resident memory (guard.unlinked) and System V segments cannot be made
# (confine.py): its processes are killed and the evaluation rejected for the memory.
import os

import torch
import torch.nn as nn

HOARD_MIB = int(os.environ.get("KERNELSWARM_TEST_HOARD_MIB", "1200"))
_held = []


def _memfds() -> None:
    block = b"\x5a" * (64 << 20)
    for _ in range(HOARD_MIB // 256):
        fd = os.memfd_create("hoard")
        for _ in range(4):
            os.write(fd, block)
        _held.append(fd)


def _sysv() -> None:
    ct = __import__("c" + "types")
    libc = ct.CDLL(None, use_errno=True)
    libc.shmat.restype = ct.c_void_p
    size = HOARD_MIB << 20
    sid = libc.shmget(0, ct.c_size_t(size), 0o600 | 0o1000)  # IPC_PRIVATE, IPC_CREAT
    if sid >= 0:
        addr = libc.shmat(sid, None, 0)
        if addr not in (None, ct.c_void_p(-1).value):
            ct.memset(ct.c_void_p(addr), 0x5A, size)
            libc.shmdt(ct.c_void_p(addr))


_memfds()
_sysv()


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        return torch.relu(self.lin(x))
