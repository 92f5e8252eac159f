"""Softmax over the last dimension."""

import torch
import torch.nn as nn
import torch.nn.functional as F

batch = 8192
dim = 32768

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"batch": 512, "dim": 4096}}


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        return torch.softmax(x, dim=-1)


def get_inputs():
    return [torch.randn(batch, dim)]


def get_init_inputs():
    return []
