"""Training: a language model's head and loss: project hidden states to the vocabulary and take
per-token cross-entropy; forward and backward (the logits need never be kept whole)."""

import torch
import torch.nn as nn
import torch.nn.functional as F

KERNELSWARM_MODE = "train"

tokens = 4096
dim = 2048
vocab = 32000

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"tokens": 256, "dim": 128, "vocab": 1000}}


class Model(nn.Module):
    def __init__(self, dim, vocab):
        super().__init__()
        self.head = nn.Linear(dim, vocab, bias=False)

    def forward(self, h, target):
        return F.cross_entropy(self.head(h), target, reduction="none")


def get_inputs():
    return [torch.randn(tokens, dim, requires_grad=True), torch.randint(0, vocab, (tokens,))]


def get_init_inputs():
    return [dim, vocab]
