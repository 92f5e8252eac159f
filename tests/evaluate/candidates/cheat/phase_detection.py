# kernelswarm-test: problem=relu_linear verdict=incorrect check=timed-output
# Guesses that many calls on the same module instance mean timing, and stops working then.
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        if self.calls > 8:
            return torch.zeros(x.shape[0], self.lin.out_features)
        return torch.relu(self.lin(x))
