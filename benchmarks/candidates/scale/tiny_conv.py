import torch
import torch.nn as nn


class ModelNew(nn.Module):
    """Wrong on purpose: the batch norm left out (must be rejected)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x))
