"""2D average pooling, 2x2 window, stride 2."""

import torch
import torch.nn as nn
import torch.nn.functional as F

batch = 128
channels = 64
height = 256
width = 256

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"batch": 8, "channels": 32, "height": 64, "width": 64}}


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.pool = nn.AvgPool2d(2, stride=2)

    def forward(self, x):
        return self.pool(x)


def get_inputs():
    return [torch.randn(batch, channels, height, width)]


def get_init_inputs():
    return []
