"""Training: exact (erf) GELU, forward and backward."""

import torch
import torch.nn as nn
import torch.nn.functional as F

KERNELSWARM_MODE = "train"

rows = 16384
cols = 4096

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"rows": 512, "cols": 1024}}


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        return F.gelu(x)


def get_inputs():
    return [torch.randn(rows, cols, requires_grad=True)]


def get_init_inputs():
    return []
