# kernelswarm-test: problem=relu_linear verdict=rejected check=output
# A Tensor subclass that would only do the work when it is compared or copied.
import torch
import torch.nn as nn


class Lazy(torch.Tensor):
    pass


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        return torch.relu(self.lin(x)).as_subclass(Lazy)
