# kernelswarm-test: problem=relu_linear verdict=rejected check=inputs-unchanged
# Zeroes its input in place and returns the (now trivial) result.
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        y = torch.relu(self.lin(x))
        x.zero_()
        return y
