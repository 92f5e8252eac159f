"""Bias-free linear layer, separate bias, SiLU, residual add."""

import torch
import torch.nn as nn
import torch.nn.functional as F

batch = 4096
features = 4096

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"batch": 256, "features": 1024}}


class Model(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.linear = nn.Linear(features, features, bias=False)
        self.bias = nn.Parameter(0.1 * torch.randn(features))

    def forward(self, x):
        return x + F.silu(self.linear(x) + self.bias)


def get_inputs():
    return [torch.randn(batch, features)]


def get_init_inputs():
    return [features]
