# kernelswarm-test: problem=relu_linear verdict=incorrect
# Memoises on a rounded hash of a few input values: every timed call gets different contents.
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)
        self.memo = {}

    def forward(self, x):
        key = tuple(round(v, 1) for v in x[0, :4].tolist())
        if key not in self.memo:
            self.memo[key] = torch.relu(self.lin(x))
        return self.memo[key].clone()
