# kernelswarm-test: problem=softmax_rows verdict=accepted
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        z = x - x.amax(dim=1, keepdim=True)
        e = z.exp()
        return e / e.sum(dim=1, keepdim=True)
