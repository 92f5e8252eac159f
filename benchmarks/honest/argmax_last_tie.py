"""argmax with ties broken towards the last index (torch.argmax takes the first)."""
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return x.shape[self.dim] - 1 - torch.argmax(x.flip(self.dim), dim=self.dim)
