"""Training: a SwiGLU MLP (as in LLaMA): down(silu(gate(x)) * up(x)), forward and backward."""

import torch
import torch.nn as nn
import torch.nn.functional as F

KERNELSWARM_MODE = "train"

tokens = 8192
dim = 2048
hidden = 5632

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"tokens": 256, "dim": 128, "hidden": 352}}


class Model(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.gate = nn.Linear(dim, hidden, bias=False)
        self.up = nn.Linear(dim, hidden, bias=False)
        self.down = nn.Linear(hidden, dim, bias=False)

    def forward(self, x):
        return self.down(F.silu(self.gate(x)) * self.up(x))


def get_inputs():
    return [torch.randn(tokens, dim, requires_grad=True)]


def get_init_inputs():
    return [dim, hidden]
