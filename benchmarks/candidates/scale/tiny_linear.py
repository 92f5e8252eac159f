import torch
import torch.nn as nn


class ModelNew(nn.Module):
    """Hand-written: the same linear + ReLU with an in-place ReLU."""

    def __init__(self, features: int):
        super().__init__()
        self.linear = nn.Linear(features, features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu_(self.linear(x))
