"""BatchNorm2d in inference mode: running statistics, no batch statistics."""

import torch
import torch.nn as nn
import torch.nn.functional as F

batch = 64
channels = 64
height = 256
width = 256

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"batch": 8, "channels": 32, "height": 64, "width": 64}}


class Model(nn.Module):
    def __init__(self, channels, eps=1e-5):
        super().__init__()
        # Random running statistics, so that the normalization is far from an identity.
        self.register_buffer("running_mean", 0.5 * torch.randn(channels))
        self.register_buffer("running_var", 0.5 + torch.rand(channels))
        self.weight = nn.Parameter(1.0 + 0.2 * torch.randn(channels))
        self.bias = nn.Parameter(0.2 * torch.randn(channels))
        self.eps = eps

    def forward(self, x):
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            training=False, eps=self.eps)


def get_inputs():
    return [torch.randn(batch, channels, height, width)]


def get_init_inputs():
    return [channels]
