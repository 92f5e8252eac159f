"""Sum over the middle dimension of a 3D tensor."""

import torch
import torch.nn as nn
import torch.nn.functional as F

batch = 128
rows = 4096
cols = 1024

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"batch": 16, "rows": 512, "cols": 512}}


class Model(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return torch.sum(x, dim=self.dim)


def get_inputs():
    return [torch.randn(batch, rows, cols)]


def get_init_inputs():
    return [1]
