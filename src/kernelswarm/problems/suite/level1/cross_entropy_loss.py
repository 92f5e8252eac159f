"""Per-sample cross-entropy of logits against integer class targets."""

import torch
import torch.nn as nn
import torch.nn.functional as F

batch = 131072
classes = 4096

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"batch": 1024, "classes": 1000}}


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, logits, target):
        return F.cross_entropy(logits, target, reduction="none")


def get_inputs():
    return [torch.randn(batch, classes), torch.randint(0, classes, (batch,))]


def get_init_inputs():
    return []
