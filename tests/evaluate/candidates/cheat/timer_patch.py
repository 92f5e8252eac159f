# kernelswarm-test: problem=relu_linear verdict=rejected check=static
# kernelswarm-test: problem=relu_linear verdict=rejected check=timer-integrity static=off
# Replaces the clock the harness reads, reaching it without importing `time`.
import os

import torch
import torch.nn as nn

_time = os.sys.modules["time"]
_real = _time.perf_counter_ns
_time.__dict__["perf_counter_ns"] = lambda: _real() // 1000


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        return torch.relu(self.lin(x))
