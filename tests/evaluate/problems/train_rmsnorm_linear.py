"""Training problem: RMSNorm with a learned scale, then a linear layer; the input requires a gradient."""
import torch
import torch.nn as nn

KERNELSWARM_MODE = "train"

tokens = 64
hidden = 128


class Model(nn.Module):
    def __init__(self, hidden, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(1.0 + 0.2 * torch.randn(hidden))
        self.proj = nn.Linear(hidden, hidden)
        self.eps = eps

    def forward(self, x):
        y = x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps) * self.weight
        return self.proj(y)


def get_inputs():
    return [torch.randn(tokens, hidden, requires_grad=True)]


def get_init_inputs():
    return [hidden]
