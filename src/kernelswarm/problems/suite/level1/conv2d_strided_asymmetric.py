"""2D convolution with a 5x3 kernel and stride 2."""

import torch
import torch.nn as nn
import torch.nn.functional as F

batch = 32
in_channels = 32
out_channels = 64
height = 256
width = 256

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"batch": 4, "in_channels": 8, "out_channels": 16, "height": 64, "width": 64}}


class Model(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, (5, 3), stride=2, padding=(2, 1))

    def forward(self, x):
        return self.conv(x)


def get_inputs():
    return [torch.randn(batch, in_channels, height, width)]


def get_init_inputs():
    return [in_channels, out_channels]
