# kernelswarm-test: problem=relu_linear verdict=accepted
# Different attribute names: weights come from building both modules under the same seed.
import torch
import torch.nn as nn
import torch.nn.functional as F


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.proj = nn.Linear(features, features)

    def forward(self, x):
        return F.relu(F.linear(x, self.proj.weight, self.proj.bias))
