"""Transposed 3D convolution (2x upsampling), ReLU, GroupNorm."""

import torch
import torch.nn as nn
import torch.nn.functional as F

batch = 32
in_channels = 32
out_channels = 16
depth = 16
height = 32
width = 32

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"batch": 2, "in_channels": 8, "out_channels": 8, "depth": 8, "height": 16, "width": 16}}


class Model(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = nn.ConvTranspose3d(in_channels, out_channels, 3, stride=2, padding=1, output_padding=1)
        self.norm = nn.GroupNorm(4, out_channels)

    def forward(self, x):
        return self.norm(torch.relu(self.conv(x)))


def get_inputs():
    return [torch.randn(batch, in_channels, depth, height, width)]


def get_init_inputs():
    return [in_channels, out_channels]
