"""Training: causal softmax attention with QK-norm (queries and keys RMS-normalised before the
dot product, as in OLMo 2 and Gemma 3) over (batch, heads, tokens, head_dim), written out;
forward and backward to the queries, keys and values."""

import torch
import torch.nn as nn

KERNELSWARM_MODE = "train"

batch = 4
heads = 16
seq_len = 2048
head_dim = 64

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"batch": 2, "heads": 4, "seq_len": 128, "head_dim": 32}}


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, q, k, v):
        q = q * torch.rsqrt(q.pow(2).mean(dim=-1, keepdim=True) + 1e-6)
        k = k * torch.rsqrt(k.pow(2).mean(dim=-1, keepdim=True) + 1e-6)
        scores = torch.matmul(q, k.transpose(-2, -1)) / q.shape[-1] ** 0.5
        n = scores.shape[-1]
        mask = torch.ones(n, n, dtype=torch.bool, device=q.device).triu(1)
        scores = scores.masked_fill(mask, float("-inf"))
        return torch.matmul(torch.softmax(scores, dim=-1), v)


def get_inputs():
    shape = (batch, heads, seq_len, head_dim)
    return [torch.randn(shape, requires_grad=True) for _ in range(3)]


def get_init_inputs():
    return []
