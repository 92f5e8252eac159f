# kernelswarm-test: problem=relu_linear verdict=incorrect check=correctness
# Returns an uninitialised tensor, hoping it still holds the reference's output.
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()

    def forward(self, x):
        return torch.empty(x.shape[0], 256)
