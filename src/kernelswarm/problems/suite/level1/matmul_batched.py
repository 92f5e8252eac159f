"""Batched matrix product of independent pairs (torch.bmm)."""

import torch
import torch.nn as nn
import torch.nn.functional as F

batch = 64
m = 1024
k = 512
n = 1024

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"batch": 16, "m": 256, "k": 128, "n": 256}}


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a, b):
        return torch.bmm(a, b)


def get_inputs():
    return [torch.randn(batch, m, k), torch.randn(batch, k, n)]


def get_init_inputs():
    return []
