"""Tall-skinny matrix product: many rows, a narrow output."""

import torch
import torch.nn as nn
import torch.nn.functional as F

m = 131072
k = 2048
n = 64

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"m": 16384, "k": 256, "n": 32}}


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a, b):
        return torch.matmul(a, b)


def get_inputs():
    return [torch.randn(m, k), torch.randn(k, n)]


def get_init_inputs():
    return []
