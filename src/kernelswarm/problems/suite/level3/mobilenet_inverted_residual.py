"""MobileNetV2 inverted residual: 1x1 expand, depthwise 3x3, 1x1 project, residual."""

import torch
import torch.nn as nn
import torch.nn.functional as F

batch = 32
channels = 64
expansion = 6
height = 112
width = 112

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"batch": 4, "channels": 16, "height": 64, "width": 64}}


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


class Model(nn.Module):
    def __init__(self, channels, expansion):
        super().__init__()
        hidden = channels * expansion
        self.expand = nn.Conv2d(channels, hidden, 1, bias=False)
        self.bn1 = BatchNormEval(hidden)
        self.depthwise = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden, bias=False)
        self.bn2 = BatchNormEval(hidden)
        self.project = nn.Conv2d(hidden, channels, 1, bias=False)
        self.bn3 = BatchNormEval(channels)

    def forward(self, x):
        y = F.relu6(self.bn1(self.expand(x)))
        y = F.relu6(self.bn2(self.depthwise(y)))
        return x + self.bn3(self.project(y))


def get_inputs():
    return [torch.randn(batch, channels, height, width)]


def get_init_inputs():
    return [channels, expansion]
