# kernelswarm-test: problem=relu_linear verdict=incorrect check=timed-output
# Honest for the first calls, then returns the previous answer without computing.
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)
        self.calls = 0
        self.last = None

    def forward(self, x):
        self.calls += 1
        if self.last is None or self.calls < 12:
            self.last = torch.relu(self.lin(x))
        return self.last.clone()
