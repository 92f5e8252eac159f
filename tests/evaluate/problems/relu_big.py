import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        return torch.relu(x)


n = 1 << 24
KERNELSWARM_SIZES = {"cpu": {"n": 1 << 16}}


def get_inputs():
    return [torch.randn(n)]


def get_init_inputs():
    return []
