"""Training: 3x3 convolution, BatchNorm in training mode (batch statistics), ReLU; forward and
backward. The first layer of a network: the input needs no gradient, the parameters do."""

import torch
import torch.nn as nn

KERNELSWARM_MODE = "train"

batch = 32
in_channels = 64
out_channels = 128
height = 56
width = 56

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"batch": 4, "in_channels": 16, "out_channels": 32, "height": 32, "width": 32}}


class Model(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(out_channels)
        with torch.no_grad():  # away from the identity initialisation, so their gradients matter
            self.norm.weight.copy_(1.0 + 0.2 * torch.randn(out_channels))
            self.norm.bias.copy_(0.2 * torch.randn(out_channels))

    def forward(self, x):
        return torch.relu(self.norm(self.conv(x)))


def get_inputs():
    return [torch.randn(batch, in_channels, height, width)]


def get_init_inputs():
    return [in_channels, out_channels]
