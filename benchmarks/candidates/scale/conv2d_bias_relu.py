import torch
import torch.nn as nn
import torch.nn.functional as F


class ModelNew(nn.Module):
    """Correct: the per-channel bias given to the convolution itself, ReLU in place."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.bias = nn.Parameter(0.1 * torch.randn(out_channels, 1, 1))

    def forward(self, x):
        return F.conv2d(x, self.conv.weight, self.bias.view(-1), padding=1).relu_()
