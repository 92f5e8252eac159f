"""The first two stages of a VGG network: 3x3 convolutions with ReLU, and max pooling."""

import torch
import torch.nn as nn
import torch.nn.functional as F

batch = 16
image_size = 224
width = 64

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"batch": 1, "image_size": 64, "width": 8}}


class Model(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
        )

    def forward(self, x):
        return self.features(x)


def get_inputs():
    return [torch.randn(batch, 3, image_size, image_size)]


def get_init_inputs():
    return [width]
