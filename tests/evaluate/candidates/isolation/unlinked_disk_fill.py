# Not a fixture of its own: tests/evaluate/test_guard.py evaluates it with a small disk bound.
# A correct ReLU-linear that fills the disk where no walk of its folder looks (adv17): the parent
# bounds how much the worker's folder grows by walking it (guard.py, cheat/disk_fill), and a file
# deleted while held open is in no folder. It opens a file in its folder, deletes it, writes
# FILL_MIB into it and keeps it open for the whole evaluation. Before, it was accepted whatever
# it wrote; now files its processes hold open after deleting them count with the folder.
import os

import torch
import torch.nn as nn

FILL_MIB = int(os.environ.get("KERNELSWARM_TEST_FILL_MIB", "512"))
_held = []


def _fill() -> None:
    fd = os.open("held.bin", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    os.unlink("held.bin")
    block = b"\x5a" * (64 << 20)
    for _ in range(FILL_MIB // 64):
        os.write(fd, block)
    os.fsync(fd)
    _held.append(fd)


_fill()


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        return torch.relu(self.lin(x))
