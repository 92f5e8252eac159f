# kernelswarm-test: problem=relu_linear verdict=accepted|rejected static=off forks
# Leaves kernel objects that are not files and belong to no process: a System V shared memory
# segment, message queue and semaphore set, and a POSIX message queue, keyed by the test's tag.
# Without an IPC namespace of its own they outlive the evaluation in the machine's namespace (a
# store that a later candidate can read, and memory that nothing frees); in the worker's own IPC
# namespace they go with it. test_fixtures looks for them by key after the evaluation.
import os
import zlib

import torch
import torch.nn as nn

ctypes = getattr(torch, "sy" + "s").modules["ct" + "ypes"]  # unseen by the static screen

TAG = os.environ.get("KERNELSWARM_TEST_TAG", "none")
KEY = zlib.crc32(TAG.encode()) & 0x7FFFFFFF
_done = []


def _leave():
    libc = ctypes.CDLL(None, use_errno=True)
    ipc_creat = 0o1000
    shmid = libc.shmget(KEY, 4 << 20, ipc_creat | 0o666)
    if shmid >= 0:
        libc.shmat.restype = ctypes.c_void_p
        addr = libc.shmat(shmid, None, 0)
        if addr not in (None, ctypes.c_void_p(-1).value):
            ctypes.memset(addr, 0x5A, 4 << 20)
            libc.shmdt(ctypes.c_void_p(addr))
    libc.msgget(KEY, ipc_creat | 0o666)
    libc.semget(KEY, 4, ipc_creat | 0o666)
    try:
        rt = ctypes.CDLL("librt.so.1", use_errno=True)
        rt.mq_open(f"/ks-escape-{TAG}".encode(), os.O_CREAT | os.O_RDWR, 0o666, None)
    except OSError:
        pass


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        if not _done:
            _done.append(1)
            _leave()
        return torch.relu(self.lin(x))
