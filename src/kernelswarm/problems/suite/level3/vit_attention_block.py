"""Vision-transformer front: patch embedding, class token, positions, then a pre-norm attention block."""

import torch
import torch.nn as nn
import torch.nn.functional as F

batch = 128
image_size = 224
patch = 16
dim = 768
heads = 12

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"batch": 4, "image_size": 64, "dim": 128, "heads": 4}}


def attention(q, k, v, causal=False):
    """Softmax attention over (batch, heads, tokens, head_dim), written out as a reference."""
    scores = torch.matmul(q, k.transpose(-2, -1)) / q.shape[-1] ** 0.5
    if causal:
        n_q, n_k = scores.shape[-2], scores.shape[-1]
        mask = torch.ones(n_q, n_k, dtype=torch.bool, device=q.device).triu(1)
        scores = scores.masked_fill(mask, float("-inf"))
    return torch.matmul(torch.softmax(scores, dim=-1), v)


class SelfAttention(nn.Module):
    def __init__(self, dim, heads, causal=False):
        super().__init__()
        self.heads = heads
        self.causal = causal
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = attention(q, k, v, self.causal).transpose(1, 2).reshape(b, n, d)
        return self.proj(y)


class Model(nn.Module):
    def __init__(self, image_size, patch, dim, heads):
        super().__init__()
        tokens = (image_size // patch) ** 2 + 1
        self.embed = nn.Conv2d(3, dim, patch, stride=patch)
        self.cls = nn.Parameter(0.02 * torch.randn(1, 1, dim))
        self.pos = nn.Parameter(0.02 * torch.randn(1, tokens, dim))
        self.norm = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads)

    def forward(self, images):
        x = self.embed(images).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        return x + self.attn(self.norm(x))


def get_inputs():
    return [torch.randn(batch, 3, image_size, image_size)]


def get_init_inputs():
    return [image_size, patch, dim, heads]
