"""Training: a ResNet basic block that halves the resolution and doubles the channels, with
BatchNorm in training mode (batch statistics); forward and backward to its input and parameters."""

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


def batch_norm(channels):
    norm = nn.BatchNorm2d(channels)
    with torch.no_grad():  # away from the identity initialisation, so their gradients matter
        norm.weight.copy_(1.0 + 0.2 * torch.randn(channels))
        norm.bias.copy_(0.2 * torch.randn(channels))
    return norm


class Model(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1, bias=False)
        self.bn1 = batch_norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = batch_norm(out_channels)
        self.down = nn.Conv2d(in_channels, out_channels, 1, stride=2, bias=False)
        self.bn_down = batch_norm(out_channels)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + self.bn_down(self.down(x)))


def get_inputs():
    return [torch.randn(batch, in_channels, height, width, requires_grad=True)]


def get_init_inputs():
    return [in_channels, out_channels]
