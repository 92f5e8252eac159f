"""A sine computed twice and averaged (an exact 2x for a candidate that computes it once:
(y + y) * 0.5 is y): for benchmarks/burst_vouch.py on a CPU, whose floor (peaks measured under
load) rejects an honest product at full speed. The sine is compute-bound on a CPU, far from the
memory floor."""
import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        return (torch.sin(x) + torch.sin(x)) * 0.5


SIZE = 1 << 20
KERNELSWARM_SIZES = {"cpu": {"SIZE": 1 << 16}}


def get_inputs():
    return [torch.randn(SIZE)]


def get_init_inputs():
    return []
