"""log_softmax as x - max - log(sum(exp(x - max))), the terms summed in a reversed order."""
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        z = x - x.amax(dim=-1, keepdim=True)
        return z - z.exp().flip(-1).sum(dim=-1, keepdim=True).log()
