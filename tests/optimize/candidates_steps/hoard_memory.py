# A winner whose process forks three children, each holding 700 MiB: the step process had no
# memory limit at all, and children under any per-process limit add up past the machine's memory.
# Its processes' resident memory together is bounded (evaluate/parent/guard.py); past the bound
# they are killed and the check fails, saying so.
import os
import time

import torch.nn as nn

_children = []


def _hoard():
    for _ in range(3):
        pid = os.fork()
        if pid == 0:
            held = b"\x01" * (700 << 20)
            while held:
                time.sleep(0.1)
        _children.append(pid)
    time.sleep(2.0)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()
        self.region = nn.Sequential(nn.Linear(128, 512), nn.GELU(), nn.Linear(512, 128))
        if not _children:
            _hoard()

    def forward(self, x):
        return self.region(x)
