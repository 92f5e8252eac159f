"""Training: RMSNorm over the hidden dimension (as in LLaMA), forward and backward."""

import torch
import torch.nn as nn

KERNELSWARM_MODE = "train"

tokens = 16384
hidden = 4096

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"tokens": 512, "hidden": 512}}


class Model(nn.Module):
    def __init__(self, hidden, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(1.0 + 0.2 * torch.randn(hidden))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps) * self.weight


def get_inputs():
    return [torch.randn(tokens, hidden, requires_grad=True)]


def get_init_inputs():
    return [hidden]
