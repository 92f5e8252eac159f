"""1D convolution, GELU, LayerNorm over channels."""

import torch
import torch.nn as nn
import torch.nn.functional as F

batch = 32
in_channels = 128
out_channels = 256
length = 16384

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"batch": 4, "in_channels": 32, "out_channels": 64, "length": 2048}}


class Model(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, 5, padding=2)
        self.norm = nn.LayerNorm(out_channels)

    def forward(self, x):
        y = F.gelu(self.conv(x))
        return self.norm(y.transpose(1, 2)).transpose(1, 2)


def get_inputs():
    return [torch.randn(batch, in_channels, length)]


def get_init_inputs():
    return [in_channels, out_channels]
