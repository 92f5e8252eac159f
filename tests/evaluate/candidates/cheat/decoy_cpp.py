# kernelswarm-test: problem=relu_linear verdict=accepted kind=pytorch-rewrite slow timeout=600
# kernelswarm-test: problem=relu_linear verdict=rejected check=strict strict slow timeout=600
# Builds a C++ kernel but never calls it: PyTorch does the work.
import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

_ext = load_inline(name="ks_test_decoy", cpp_sources="torch::Tensor relu(torch::Tensor x) { return x.clamp_min(0); }",
                   functions=["relu"])


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        return torch.relu(self.lin(x))
