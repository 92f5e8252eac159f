# kernelswarm-test: problem=relu_linear verdict=rejected check=resources static=off
# Fills the disk from inside the one folder it may write to (its worker's, on the machine's disk):
# many files, none large, so no per-file limit stops it. It writes up to 3 GiB and answers wrongly
# if it could (accepted before, had it answered rightly). The worker's folder has a bound on how
# much it may grow (parent/guard.py, 2 GiB; builds and caches stay far below it): past it, every
# process of the worker is killed and the evaluation rejected for it.
import os

import torch
import torch.nn as nn

CHUNK = 32 << 20


def _fill() -> int:
    block = b"\x5a" * CHUNK
    written = 0
    folder = os.path.join(os.environ.get("TMPDIR") or os.getcwd(), "ks-fill")
    try:
        os.makedirs(folder, exist_ok=True)
        for n in range(96):
            with open(f"{folder}/{n}", "wb") as f:
                f.write(block)
            written += CHUNK
    except OSError:
        pass
    return written


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)
        self.filled = _fill() >= (3 << 30)

    def forward(self, x):
        y = torch.relu(self.lin(x))
        return y + 1.0 if self.filled else y
