import torch
import torch.nn as nn


class Model(nn.Module):
    """Each row centred and divided by its standard deviation, with no epsilon: a constant row gives
    0/0 (NaN in float64; float32's mean may miss the row's value by a rounding, giving finite noise)."""

    def __init__(self):
        super().__init__()

    def forward(self, x):
        mean = x.mean(dim=1, keepdim=True)
        return (x - mean) / x.std(dim=1, keepdim=True)


rows, cols = 64, 512


def get_inputs():
    return [torch.randn(rows, cols) * 2 + 1]


def get_init_inputs():
    return []
