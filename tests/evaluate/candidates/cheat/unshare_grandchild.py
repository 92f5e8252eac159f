# kernelswarm-test: problem=relu_linear verdict=accepted|rejected static=off forks
# Leaves by the doors a new session does not use (issue 14.4): through libc it unshares new user
# and PID namespaces (its next child is the first process of a namespace of its own), and that
# child forks a grandchild that calls setsid by raw syscall number (no `setsid` in the source),
# makes itself a child subreaper, clears its environment of everything but the test's tag, writes
# files named after the tag to /dev/shm, /tmp and /var/tmp, and spins. Another grandchild goes
# through clone3's cousin, a vfork-free `os.fork` after `unshare(CLONE_NEWNS)` that remounts
# nothing. None of them may outlive the evaluation; their files may not either.
import ctypes
import os
import time

import torch
import torch.nn as nn

_libc = ctypes.CDLL(None, use_errno=True)
_TAG = os.environ.get("KERNELSWARM_TEST_TAG", "none")
CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID = 0x00020000, 0x10000000, 0x20000000
SYS_SETSID = 112  # x86-64
PR_SET_CHILD_SUBREAPER = 36


def _spin():
    for d in ("/dev/shm", "/tmp", "/var/tmp"):
        try:
            with open(f"{d}/ks-escape-{_TAG}", "w") as f:
                f.write("left behind")
        except OSError:
            pass
    env = {"KERNELSWARM_TEST_TAG": _TAG}
    os.environ.clear()
    os.environ.update(env)
    end = time.time() + 600
    while time.time() < end:
        sum(range(10000))
    os._exit(0)


def _leave(flags):
    _libc.unshare(flags)  # may be refused: the forks below run either way
    if os.fork() == 0:
        if os.fork() == 0:
            _libc.syscall(SYS_SETSID)
            _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
            if os.fork() == 0:
                _spin()
            _spin()
        os._exit(0)


if os.fork() == 0:
    try:
        for flags in (CLONE_NEWUSER | CLONE_NEWPID, CLONE_NEWNS):
            try:
                # Once the new PID namespace's first process has exited, a fork into it fails
                # (ENOMEM): the next way out is tried all the same.
                _leave(flags)
            except OSError:
                pass
    finally:
        os._exit(0)  # never back into the worker's own loop, whatever failed
time.sleep(0.5)


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        return torch.relu(self.lin(x))
