"""Matrix product with a long inner dimension and a small output."""

import torch
import torch.nn as nn
import torch.nn.functional as F

m = 1024
k = 131072
n = 1024

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"m": 128, "k": 16384, "n": 128}}


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a, b):
        return torch.matmul(a, b)


def get_inputs():
    return [torch.randn(m, k), torch.randn(k, n)]


def get_init_inputs():
    return []
