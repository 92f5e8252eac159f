"""LayerNorm in two explicit passes (mean, then the mean square of the centred values)."""
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.norm = nn.LayerNorm(hidden)

    def forward(self, x):
        mean = x.mean(dim=-1, keepdim=True)
        d = x - mean
        var = (d * d).mean(dim=-1, keepdim=True)
        return d * torch.rsqrt(var + self.norm.eps) * self.norm.weight + self.norm.bias
