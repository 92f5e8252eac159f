"""Depthwise 2D convolution: one 3x3 filter per channel."""

import torch
import torch.nn as nn
import torch.nn.functional as F

batch = 64
channels = 256
height = 112
width = 112

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"batch": 4, "channels": 32, "height": 64, "width": 64}}


class Model(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)

    def forward(self, x):
        return self.conv(x)


def get_inputs():
    return [torch.randn(batch, channels, height, width)]


def get_init_inputs():
    return [channels]
