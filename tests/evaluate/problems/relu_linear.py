import torch
import torch.nn as nn


class Model(nn.Module):
    """y = relu(x W^T + b)"""

    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        return torch.relu(self.lin(x))


batch = 64
features = 256


def get_inputs():
    return [torch.randn(batch, features)]


def get_init_inputs():
    return [features]
