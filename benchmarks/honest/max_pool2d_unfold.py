"""3x3 max pooling, stride 2, padding 1, as the max over unfolded windows (-inf padding)."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        n, c, h, w = x.shape
        p = F.pad(x, (1, 1, 1, 1), value=float("-inf"))
        win = p.unfold(2, 3, 2).unfold(3, 3, 2)
        return win.amax(dim=(-1, -2))
