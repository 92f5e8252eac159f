import torch
import torch.nn as nn


class Model(nn.Module):
    """The index of each row's largest element (an integer output: ties may honestly go either way)."""

    def __init__(self):
        super().__init__()

    def forward(self, x):
        return torch.argmax(x, dim=1)


rows, cols = 64, 512


def get_inputs():
    return [torch.randn(rows, cols)]


def get_init_inputs():
    return []
