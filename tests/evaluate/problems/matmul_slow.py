# A matrix product whose call takes tens of milliseconds on one CPU thread: long calls, whose
# bursts are short (timing.BURST_LONG_CALLS calls), as a large kernel's are.
import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a, b):
        return a @ b


M, K, N = 1024, 2048, 1024


def get_inputs():
    return [torch.randn(M, K), torch.randn(K, N)]


def get_init_inputs():
    return []
