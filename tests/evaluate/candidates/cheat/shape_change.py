# kernelswarm-test: problem=relu_linear verdict=accepted
# Redefines the problem's sizes and get_inputs, hoping to be timed on a tiny input; they are ignored.
import torch
import torch.nn as nn

batch = 1
features = 8


def get_inputs():
    return [torch.randn(1, 8)]


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        assert x.shape == (64, 256), f"timed on {tuple(x.shape)}"
        return torch.relu(self.lin(x))
