"""A small ResNet: stem, three stages of basic blocks, global pooling, classifier."""

import torch
import torch.nn as nn
import torch.nn.functional as F

batch = 32
image_size = 128
width = 64
num_classes = 1000

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"batch": 2, "image_size": 32, "width": 8, "num_classes": 10}}


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


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 convolutions and a shortcut, downsampling when stride is 2."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = BatchNormEval(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = BatchNormEval(cout)
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), BatchNormEval(cout))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + self.shortcut(x))



class Model(nn.Module):
    def __init__(self, width, num_classes):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, padding=1, bias=False), BatchNormEval(width), nn.ReLU())
        self.stages = nn.Sequential(
            BasicBlock(width, width, 1), BasicBlock(width, width, 1),
            BasicBlock(width, 2 * width, 2), BasicBlock(2 * width, 2 * width, 1),
            BasicBlock(2 * width, 4 * width, 2), BasicBlock(4 * width, 4 * width, 1),
        )
        self.fc = nn.Linear(4 * width, num_classes)

    def forward(self, x):
        y = self.stages(self.stem(x))
        return self.fc(y.mean(dim=(2, 3)))


def get_inputs():
    return [torch.randn(batch, 3, image_size, image_size)]


def get_init_inputs():
    return [width, num_classes]
