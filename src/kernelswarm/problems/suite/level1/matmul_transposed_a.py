"""Matrix product with the first operand transposed: C = A.T @ B."""

import torch
import torch.nn as nn
import torch.nn.functional as F

m = 4096
k = 4096
n = 4096

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"m": 512, "k": 512, "n": 512}}


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a, b):
        return torch.matmul(a.T, b)


def get_inputs():
    return [torch.randn(k, m), torch.randn(k, n)]


def get_init_inputs():
    return []
