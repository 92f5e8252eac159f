"""Linear layer, swish, clamp to a range."""

import torch
import torch.nn as nn
import torch.nn.functional as F

batch = 4096
in_features = 4096
out_features = 4096

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"batch": 256, "in_features": 1024, "out_features": 1024}}


class Model(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x):
        y = self.linear(x)
        return torch.clamp(y * torch.sigmoid(y), -0.2, 0.8)


def get_inputs():
    return [torch.randn(batch, in_features)]


def get_init_inputs():
    return [in_features, out_features]
