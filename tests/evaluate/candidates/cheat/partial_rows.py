# kernelswarm-test: problem=relu_linear verdict=incorrect check=correctness
# Computes only the first half of the rows; the rest is whatever memory held.
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        out = torch.empty(x.shape[0], self.lin.out_features)
        half = x.shape[0] // 2
        out[:half] = torch.relu(self.lin(x[:half]))
        return out
