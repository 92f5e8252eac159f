"""Leaky ReLU activation."""

import torch
import torch.nn as nn
import torch.nn.functional as F

batch = 8192
dim = 32768
negative_slope = 0.05

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"batch": 1024, "dim": 4096}}


class Model(nn.Module):
    def __init__(self, negative_slope):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu(x, negative_slope=self.negative_slope)


def get_inputs():
    return [torch.randn(batch, dim)]


def get_init_inputs():
    return [negative_slope]
