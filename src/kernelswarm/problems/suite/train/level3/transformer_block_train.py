"""Training: a GPT-style decoder block (pre-norm causal self-attention and a GELU MLP, with
residuals), forward and backward to its input and every parameter."""

import torch
import torch.nn as nn
import torch.nn.functional as F

KERNELSWARM_MODE = "train"

batch = 4
seq_len = 1024
dim = 1024
heads = 16

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"batch": 2, "seq_len": 64, "dim": 128, "heads": 4}}


def attention(q, k, v):
    """Causal softmax attention over (batch, heads, tokens, head_dim), written out as a reference."""
    scores = torch.matmul(q, k.transpose(-2, -1)) / q.shape[-1] ** 0.5
    n = scores.shape[-1]
    mask = torch.ones(n, n, dtype=torch.bool, device=q.device).triu(1)
    return torch.matmul(torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1), v)


class Model(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.ln2 = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, 4 * dim)
        self.proj = nn.Linear(4 * dim, dim)

    def forward(self, x):
        b, n, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        x = x + self.out(attention(q, k, v).transpose(1, 2).reshape(b, n, d))
        return x + self.proj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


def get_inputs():
    return [torch.randn(batch, seq_len, dim, requires_grad=True)]


def get_init_inputs():
    return [dim, heads]
