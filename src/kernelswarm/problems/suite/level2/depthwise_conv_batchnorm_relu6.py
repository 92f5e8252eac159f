"""Depthwise 3x3 convolution, BatchNorm in inference mode, ReLU6."""

import torch
import torch.nn as nn
import torch.nn.functional as F

batch = 64
channels = 256
height = 112
width = 112

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"batch": 4, "channels": 32, "height": 64, "width": 64}}


class BatchNormEval(nn.Module):
    """BatchNorm in inference mode, with random running statistics so it is far from an identity."""

    def __init__(self, channels, eps=1e-5):
        super().__init__()
        self.register_buffer("running_mean", 0.5 * torch.randn(channels))
        self.register_buffer("running_var", 0.5 + torch.rand(channels))
        self.weight = nn.Parameter(1.0 + 0.2 * torch.randn(channels))
        self.bias = nn.Parameter(0.2 * torch.randn(channels))
        self.eps = eps

    def forward(self, x):
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            training=False, eps=self.eps)


class Model(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False)
        self.norm = BatchNormEval(channels)

    def forward(self, x):
        return F.relu6(self.norm(self.conv(x)))


def get_inputs():
    return [torch.randn(batch, channels, height, width)]


def get_init_inputs():
    return [channels]
