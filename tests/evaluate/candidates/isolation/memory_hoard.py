# Not a fixture of its own: tests/evaluate/test_guard.py evaluates it with a small memory bound.
# A correct ReLU-linear that forks three children, each holding 700 MiB: every one is under the
# worker's per-process address-space limit (RLIMIT_AS), together they hold more than the bound on
# a worker's processes (on a machine, more than it has). Before parent/guard.py it was accepted
# with its children holding 2.1 GiB the evaluation never counted; now its processes are killed
# and the evaluation rejected for it.
import os
import time

import torch
import torch.nn as nn

HOLD = 700 << 20
_children = []


def _hoard():
    for _ in range(3):
        pid = os.fork()
        if pid == 0:
            held = b"\x01" * HOLD  # touched: resident, not just reserved
            while held:
                time.sleep(0.1)
        _children.append(pid)
    time.sleep(2.0)  # all of it resident before the first call


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)
        if not _children:
            _hoard()

    def forward(self, x):
        return torch.relu(self.lin(x))
