"""Training: the end of a language model: final RMSNorm, a SwiGLU MLP with residual, the vocabulary
projection and per-token cross-entropy; forward and backward to the hidden states and every
parameter."""

import torch
import torch.nn as nn
import torch.nn.functional as F

KERNELSWARM_MODE = "train"

tokens = 4096
dim = 1024
hidden = 2816
vocab = 32000

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"tokens": 128, "dim": 128, "hidden": 352, "vocab": 1000}}


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(1.0 + 0.2 * torch.randn(dim))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps) * self.weight


class Model(nn.Module):
    def __init__(self, dim, hidden, vocab):
        super().__init__()
        self.norm1 = RMSNorm(dim)
        self.gate = nn.Linear(dim, hidden, bias=False)
        self.up = nn.Linear(dim, hidden, bias=False)
        self.down = nn.Linear(hidden, dim, bias=False)
        self.norm2 = RMSNorm(dim)
        self.head = nn.Linear(dim, vocab, bias=False)

    def forward(self, h, target):
        x = self.norm1(h)
        h = h + self.down(F.silu(self.gate(x)) * self.up(x))
        return F.cross_entropy(self.head(self.norm2(h)), target, reduction="none")


def get_inputs():
    return [torch.randn(tokens, dim, requires_grad=True), torch.randint(0, vocab, (tokens,))]


def get_init_inputs():
    return [dim, hidden, vocab]
