"""LayerNorm over the hidden dimension, with learned scale and shift."""

import torch
import torch.nn as nn
import torch.nn.functional as F

tokens = 32768
hidden = 8192

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"tokens": 2048, "hidden": 1024}}


class Model(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        # Non-trivial affine parameters, so that the scale and shift matter.
        nn.init.normal_(self.norm.weight, 1.0, 0.2)
        nn.init.normal_(self.norm.bias, 0.0, 0.2)

    def forward(self, x):
        return self.norm(x)


def get_inputs():
    return [torch.randn(tokens, hidden) * 2.0 + 0.5]


def get_init_inputs():
    return [hidden]
