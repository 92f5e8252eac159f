# kernelswarm-test: problem=relu_linear verdict=accepted
# Honest, and common where launches are captured (CUDA graphs, torch.compile's "reduce-overhead"):
# every call writes its result into one buffer the module keeps, and returns that buffer, so the
# output of a call is overwritten by the next. Its outputs are right when they are returned.
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)
        self.out = None

    def forward(self, x):
        y = torch.relu(self.lin(x))
        if self.out is None or self.out.shape != y.shape:
            self.out = torch.empty_like(y)
        self.out.copy_(y)
        return self.out
