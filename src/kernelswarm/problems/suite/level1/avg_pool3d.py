"""3D average pooling, 3x3x3 window, stride 2, zero padding counted."""

import torch
import torch.nn as nn
import torch.nn.functional as F

batch = 32
channels = 64
depth = 64
height = 64
width = 64

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"batch": 4, "channels": 8, "depth": 32, "height": 32, "width": 32}}


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.pool = nn.AvgPool3d(3, stride=2, padding=1)

    def forward(self, x):
        return self.pool(x)


def get_inputs():
    return [torch.randn(batch, channels, depth, height, width)]


def get_init_inputs():
    return []
