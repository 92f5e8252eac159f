# kernelswarm-test: problem=relu_linear verdict=runtime_error
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()

    def forward(self, x):
        hoard = []
        while True:
            hoard.append(torch.empty(256 * 1024 * 1024, dtype=torch.uint8))
