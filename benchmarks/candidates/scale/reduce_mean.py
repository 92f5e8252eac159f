import torch
import torch.nn as nn


class ModelNew(nn.Module):
    """Correct: the mean as a sum divided by the length."""

    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return x.sum(dim=self.dim) / x.shape[self.dim]
