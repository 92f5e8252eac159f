"""A sum over the dimension in reverse order, as a running sum of halves."""
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        x = x.flip(self.dim)
        n = x.shape[self.dim]
        a, b = x.narrow(self.dim, 0, n // 2), x.narrow(self.dim, n // 2, n - n // 2)
        return b.sum(dim=self.dim) + a.sum(dim=self.dim)
