# kernelswarm-test: problem=relu_linear verdict=incorrect check=correctness
# Off by 1e-3 everywhere: far beyond what float32 rounding explains.
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        return torch.relu(self.lin(x)) + 1e-3
