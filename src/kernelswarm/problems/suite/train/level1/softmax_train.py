"""Training: softmax over the last dimension, forward and backward (its input requires a gradient)."""

import torch
import torch.nn as nn

KERNELSWARM_MODE = "train"

rows = 16384
cols = 4096

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"rows": 512, "cols": 1024}}


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        return torch.softmax(x, dim=-1)


def get_inputs():
    return [(2.0 * torch.randn(rows, cols)).requires_grad_(True)]


def get_init_inputs():
    return []
