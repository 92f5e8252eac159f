"""2D convolution, 3x3 kernel, same padding."""

import torch
import torch.nn as nn
import torch.nn.functional as F

batch = 16
in_channels = 64
out_channels = 128
height = 224
width = 224

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"batch": 4, "in_channels": 8, "out_channels": 16, "height": 64, "width": 64}}


class Model(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)

    def forward(self, x):
        return self.conv(x)


def get_inputs():
    return [torch.randn(batch, in_channels, height, width)]


def get_init_inputs():
    return [in_channels, out_channels]
