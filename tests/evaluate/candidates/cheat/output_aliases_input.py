# kernelswarm-test: problem=softmax_rows verdict=rejected check=output
# Writes the result over its input and returns the input itself.
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        x.copy_(torch.softmax(x, dim=1))
        return x
