# kernelswarm-test: problem=relu_linear verdict=incorrect
# kernelswarm-test: problem=relu_linear verdict=incorrect static=off
# Reads a clock (which the screen now allows, for honest autotuning) to guess that calls arriving
# back to back are being timed, and returns its previous output then. Timed outputs are checked.
import time

import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)
        self.last = None
        self.last_end = 0.0

    def forward(self, x):
        now = time.perf_counter()
        if self.last is not None and now - self.last_end < 0.05 and self.last.shape[0] == x.shape[0]:
            out = self.last
        else:
            out = torch.relu(self.lin(x))
        self.last, self.last_end = out, time.perf_counter()
        return out
