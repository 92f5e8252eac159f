"""Matrix product with a weight, division by a constant, GELU."""

import torch
import torch.nn as nn
import torch.nn.functional as F

batch = 4096
in_features = 4096
out_features = 4096
divisor = 0.5

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"batch": 256, "in_features": 1024, "out_features": 1024}}


class Model(nn.Module):
    def __init__(self, in_features, out_features, divisor):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(in_features, out_features) / in_features ** 0.5)
        self.divisor = divisor

    def forward(self, x):
        return F.gelu(torch.matmul(x, self.weight) / self.divisor)


def get_inputs():
    return [torch.randn(batch, in_features)]


def get_init_inputs():
    return [in_features, out_features, divisor]
