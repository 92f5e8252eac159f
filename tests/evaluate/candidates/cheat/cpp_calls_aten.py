# kernelswarm-test: problem=relu_linear verdict=accepted kind=pytorch-rewrite slow timeout=600
# A C++ "kernel" that only calls PyTorch's own operators: labelled by what did the work.
import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

_src = "torch::Tensor f(torch::Tensor x, torch::Tensor w, torch::Tensor b) { return torch::relu(torch::addmm(b, x, w.t())); }"
_ext = load_inline(name="ks_test_aten_wrapper", cpp_sources=_src, functions=["f"])


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        return _ext.f(x, self.lin.weight, self.lin.bias)
