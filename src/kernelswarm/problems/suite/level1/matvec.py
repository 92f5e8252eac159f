"""Matrix-vector product: a large matrix times one column."""

import torch
import torch.nn as nn
import torch.nn.functional as F

m = 16384
k = 32768

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"m": 4096, "k": 2048}}


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a, x):
        return torch.matmul(a, x)


def get_inputs():
    return [torch.randn(m, k), torch.randn(k, 1)]


def get_init_inputs():
    return []
