"""Training: a linear layer and tanh-approximated GELU (a transformer MLP's up-projection),
forward and backward."""

import torch
import torch.nn as nn
import torch.nn.functional as F

KERNELSWARM_MODE = "train"

tokens = 8192
in_features = 2048
out_features = 8192

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"tokens": 256, "in_features": 256, "out_features": 512}}


class Model(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.fc = nn.Linear(in_features, out_features)

    def forward(self, x):
        return F.gelu(self.fc(x), approximate="tanh")


def get_inputs():
    return [torch.randn(tokens, in_features, requires_grad=True)]


def get_init_inputs():
    return [in_features, out_features]
