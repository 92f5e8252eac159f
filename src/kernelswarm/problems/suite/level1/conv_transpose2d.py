"""Transposed 2D convolution that doubles the resolution (kernel 4, stride 2)."""

import torch
import torch.nn as nn
import torch.nn.functional as F

batch = 32
in_channels = 64
out_channels = 32
height = 128
width = 128

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"batch": 4, "in_channels": 16, "out_channels": 16, "height": 32, "width": 32}}


class Model(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1)

    def forward(self, x):
        return self.conv(x)


def get_inputs():
    return [torch.randn(batch, in_channels, height, width)]


def get_init_inputs():
    return [in_channels, out_channels]
