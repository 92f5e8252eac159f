"""RMSNorm dividing by sqrt(mean square + eps) instead of multiplying by rsqrt."""
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self, hidden, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(1.0 + 0.2 * torch.randn(hidden))
        self.eps = eps

    def forward(self, x):
        return self.weight * (x / torch.sqrt((x * x).sum(dim=-1, keepdim=True) / x.shape[-1] + self.eps))
