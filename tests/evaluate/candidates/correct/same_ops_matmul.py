# kernelswarm-test: problem=matmul_tanh verdict=accepted max_speedup=1.5 calls=200
# The reference's own operations: an honest candidate whose time the wall clock must not dispute.
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a, b):
        return torch.tanh(a @ b)
