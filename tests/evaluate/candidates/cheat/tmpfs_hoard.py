# kernelswarm-test: problem=relu_linear verdict=accepted static=off
# Memory outside every per-process limit: files in the private /dev/shm, /tmp and /var/tmp live in
# RAM (tmpfs) and count against no process's address space, so a worker capped at 60% of the
# machine's memory could put half of it in each of three of them (three times 50% is more memory
# than the machine has: the OOM killer then picks some other process). It tries to keep 1.8 GiB
# there, and answers wrongly if it could: the temporary folders must share one small bound.
import os

import torch
import torch.nn as nn

_held = []
CHUNK = 64 << 20


def _hoard() -> int:
    kept = 0
    block = b"\x5a" * CHUNK
    for folder in ("/dev/shm", "/tmp", "/var/tmp"):
        try:
            with open(f"{folder}/ks-hoard-{os.getpid()}", "wb") as f:
                for _ in range(600 << 20 // CHUNK):
                    f.write(block)
                    f.flush()
                    kept += CHUNK
        except OSError:
            continue
    return kept


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)
        self.hoarded = _hoard() >= (1536 << 20)

    def forward(self, x):
        y = torch.relu(self.lin(x))
        return y + 1.0 if self.hoarded else y
