# Not a fixture of its own: tests/evaluate/test_guard.py evaluates it with a small disk bound.
# A correct ReLU-linear that fills the disk where the walk of its folder cannot reach (adv17): the
# parent bounds how much the worker's folder grows by walking it by path (guard.py), and a path
# longer than the system's limit (4096 bytes) cannot be opened by name. It makes a chain of
# folders with 250-byte names, 24 deep (6 KB of path), one step at a time from inside the last,
# and writes FILL_MIB into a file at its end. Before, the walk skipped what it could not open and
# the evaluation accepted it whatever it wrote; now the folder is walked by descriptors.
import os

import torch
import torch.nn as nn

FILL_MIB = int(os.environ.get("KERNELSWARM_TEST_FILL_MIB", "512"))


def _fill() -> None:
    here = os.getcwd()
    fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(24):
        name = "d" * 250
        os.mkdir(name, dir_fd=fd)
        nxt = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nxt
    out = os.open("fill.bin", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600, dir_fd=fd)
    block = b"\x5a" * (64 << 20)
    for _ in range(FILL_MIB // 64):
        os.write(out, block)
    os.fsync(out)
    os.close(out)
    os.close(fd)
    os.chdir(here)


_fill()


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        return torch.relu(self.lin(x))
