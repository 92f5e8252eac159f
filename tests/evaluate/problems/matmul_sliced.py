"""A matmul done the slow way, in slices of its inner dimension added up one after another:
redundant work (six small products and five additions where one product does), which an honest
candidate drops, about 2x faster. The floor counts the same operations as one product's, so the
gain is no cheat. Sized to a short call on a GPU (about 0.2 ms for the candidate on an H200), where
the per-call wall clock alone cannot confirm the gain (burstvouch.py)."""
import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a, b):
        step = a.shape[1] // PARTS
        out = a[:, :step] @ b[:step]
        for k in range(step, a.shape[1], step):
            out = out + a[:, k:k + step] @ b[k:k + step]
        return out


M, K, N = 1536, 1536, 1536
PARTS = 6
# On a CPU a call so short that the calls' overhead is most of it (2 products and an addition against
# 1 product, 2-3x on this CPU): the floor, from peaks measured under load, stays below the product.
KERNELSWARM_SIZES = {"cpu": {"M": 32, "K": 32, "N": 32, "PARTS": 2}}


def get_inputs():
    return [torch.randn(M, K), torch.randn(K, N)]


def get_init_inputs():
    return []
