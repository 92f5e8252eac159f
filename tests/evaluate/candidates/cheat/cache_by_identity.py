# kernelswarm-test: problem=relu_linear verdict=incorrect|accepted max_speedup=3
# Either it serves a stale output and is caught, or fresh copies make it miss and it honestly computes.
# Memoises on the input's address and version: fresh copies per call defeat it.
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)
        self.memo = {}

    def forward(self, x):
        key = (x.data_ptr(), x.shape)
        if key not in self.memo:
            self.memo[key] = torch.relu(self.lin(x))
        return self.memo[key].clone()
