# kernelswarm-test: device=cuda problem=matmul_big verdict=incorrect check=correctness
# Returns uninitialised device memory, hoping the allocator hands back a block holding the answer.
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a, b):
        return torch.empty(a.shape[0], b.shape[1], device=a.device)
