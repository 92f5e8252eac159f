"""Attention scores: batched Q K^T, scaled, softmax over keys."""

import torch
import torch.nn as nn
import torch.nn.functional as F

batch = 256
seq = 1024
head_dim = 64

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"batch": 16, "seq": 256, "head_dim": 64}}


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, q, k):
        scores = torch.bmm(q, k.transpose(1, 2)) / q.shape[-1] ** 0.5
        return torch.softmax(scores, dim=-1)


def get_inputs():
    return [torch.randn(batch, seq, head_dim), torch.randn(batch, seq, head_dim)]


def get_init_inputs():
    return []
