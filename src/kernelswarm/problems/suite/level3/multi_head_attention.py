"""Multi-head cross-attention with query, key, value and output projections."""

import torch
import torch.nn as nn
import torch.nn.functional as F

batch = 16
query_len = 1024
key_len = 2048
dim = 1024
heads = 16

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"batch": 2, "query_len": 128, "key_len": 192, "dim": 128, "heads": 4}}


class Model(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, query, context):
        b, n, d = query.shape
        m = context.shape[1]
        h = self.heads
        q = self.q(query).view(b, n, h, d // h).transpose(1, 2)
        k, v = self.kv(context).view(b, m, 2, h, d // h).permute(2, 0, 3, 1, 4)
        scores = torch.matmul(q, k.transpose(-2, -1)) / (d // h) ** 0.5
        y = torch.matmul(torch.softmax(scores, dim=-1), v)
        return self.out(y.transpose(1, 2).reshape(b, n, d))


def get_inputs():
    return [torch.randn(batch, query_len, dim), torch.randn(batch, key_len, dim)]


def get_init_inputs():
    return [dim, heads]
