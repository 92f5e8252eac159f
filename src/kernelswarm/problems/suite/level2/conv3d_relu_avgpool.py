"""3D convolution, ReLU, 2x2x2 average pooling."""

import torch
import torch.nn as nn
import torch.nn.functional as F

batch = 8
in_channels = 16
out_channels = 32
depth = 32
height = 64
width = 64

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"batch": 2, "in_channels": 8, "out_channels": 16, "depth": 16, "height": 32, "width": 32}}


class Model(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = nn.Conv3d(in_channels, out_channels, 3, padding=1)

    def forward(self, x):
        return F.avg_pool3d(torch.relu(self.conv(x)), 2)


def get_inputs():
    return [torch.randn(batch, in_channels, depth, height, width)]


def get_init_inputs():
    return [in_channels, out_channels]
