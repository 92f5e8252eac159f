"""Training: per-sample cross-entropy of logits against integer targets, forward and backward
(the gradient of the logits is softmax minus one-hot, scaled by each sample's upstream gradient)."""

import torch
import torch.nn as nn
import torch.nn.functional as F

KERNELSWARM_MODE = "train"

batch = 8192
classes = 32000

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"batch": 512, "classes": 1000}}


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, logits, target):
        return F.cross_entropy(logits, target, reduction="none")


def get_inputs():
    return [torch.randn(batch, classes, requires_grad=True), torch.randint(0, classes, (batch,))]


def get_init_inputs():
    return []
