# kernelswarm-test: problem=relu_linear verdict=accepted kind=pytorch-rewrite
# Tries to build its own C++ extension, which fails (a compiler flag that does not exist), catches
# the error and falls back to PyTorch, as 21 published load_inline kernels did on the H200. The
# evaluation is accepted as a PyTorch rewrite, and its kept log says why the extension never ran.
import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

_SOURCE = """
torch::Tensor relu_out(torch::Tensor x) { return torch::relu(x); }
"""

try:
    _ext = load_inline(name="ks_fallback_relu", cpp_sources=_SOURCE, functions=["relu_out"],
                       extra_cflags=["--kernelswarm-no-such-flag"], verbose=False)
except Exception:
    _ext = None


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        y = self.lin(x)
        return _ext.relu_out(y) if _ext is not None else torch.relu(y)
