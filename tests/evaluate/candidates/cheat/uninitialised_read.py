# kernelswarm-test: problem=relu_linear verdict=incorrect check=correctness
# Accumulates into memory it never initialised.
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        out = torch.empty(x.shape[0], self.lin.out_features)
        out += torch.relu(self.lin(x))
        return out
