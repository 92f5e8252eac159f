# kernelswarm-test: problem=relu_linear verdict=accepted|rejected static=off forks
# kernelswarm-test: problem=relu_linear verdict=rejected check=static forks
# Leaves a child process spinning; the whole process group dies with the evaluation.
import os

import torch
import torch.nn as nn

_forked = []


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        if not _forked:
            pid = getattr(os, "fo" + "rk")()
            if pid == 0:
                while True:
                    pass
            _forked.append(pid)
        return torch.relu(self.lin(x))
