# kernelswarm-test: problem=softmax_rows verdict=incorrect check=correctness
# No max subtraction: right on unit-scale inputs, overflows on the stress trial with large ones.
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        e = x.exp()
        return e / e.sum(dim=1, keepdim=True)
