"""One U-Net level: double convolution, downsample, bottleneck, upsample, skip concatenation, double convolution."""

import torch
import torch.nn as nn
import torch.nn.functional as F

batch = 8
in_channels = 32
base = 64
height = 256
width = 256

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"batch": 1, "in_channels": 4, "base": 8, "height": 64, "width": 64}}


class BatchNormEval(nn.Module):
    """BatchNorm2d in inference mode, with random running statistics so it is far from an identity."""

    def __init__(self, channels, eps=1e-5):
        super().__init__()
        self.register_buffer("running_mean", 0.2 * torch.randn(channels))
        self.register_buffer("running_var", 0.5 + torch.rand(channels))
        self.weight = nn.Parameter(1.0 + 0.2 * torch.randn(channels))
        self.bias = nn.Parameter(0.2 * torch.randn(channels))
        self.eps = eps

    def forward(self, x):
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            training=False, eps=self.eps)


def double_conv(cin, cout):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), BatchNormEval(cout), nn.ReLU(),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), BatchNormEval(cout), nn.ReLU(),
    )


class Model(nn.Module):
    def __init__(self, in_channels, base):
        super().__init__()
        self.down = double_conv(in_channels, base)
        self.bottom = double_conv(base, 2 * base)
        self.up = nn.ConvTranspose2d(2 * base, base, 2, stride=2)
        self.merge = double_conv(2 * base, base)
        self.head = nn.Conv2d(base, in_channels, 1)

    def forward(self, x):
        skip = self.down(x)
        y = self.bottom(F.max_pool2d(skip, 2))
        y = self.merge(torch.cat([self.up(y), skip], dim=1))
        return self.head(y)


def get_inputs():
    return [torch.randn(batch, in_channels, height, width)]


def get_init_inputs():
    return [in_channels, base]
