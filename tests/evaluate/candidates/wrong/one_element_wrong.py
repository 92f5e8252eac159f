# kernelswarm-test: problem=relu_linear verdict=incorrect check=correctness
# Right everywhere but one element: every element is checked.
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        y = torch.relu(self.lin(x))
        y[-1, -1] = y[-1, -1] + 0.05
        return y
