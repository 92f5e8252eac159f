# kernelswarm-test: problem=relu_linear verdict=accepted kind=custom-kernel slow timeout=600
# Writes its C++ source into a temporary folder and builds it with `load()`, as published kernels
# do. The temporary folder is the worker's own (TMPDIR points into it; the sandbox allows writes
# nowhere else): the candidate checks that, so a worker that stopped confining it fails here.
import os
import shutil
import tempfile

import torch
import torch.nn as nn
from torch.utils.cpp_extension import load

_SRC = r"""
#include <torch/extension.h>
// relu(x W^T + b), one output element at a time
torch::Tensor linear_relu(torch::Tensor x, torch::Tensor w, torch::Tensor b) {
    auto xc = x.contiguous(); auto wc = w.contiguous(); auto bc = b.contiguous();
    const int64_t n = xc.size(0), k = xc.size(1), m = wc.size(0);
    auto out = torch::empty({n, m}, xc.options());
    const float* X = xc.data_ptr<float>(); const float* W = wc.data_ptr<float>();
    const float* B = bc.data_ptr<float>(); float* O = out.data_ptr<float>();
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < m; ++j) {
            float acc = B[j];
            for (int64_t t = 0; t < k; ++t) acc += X[i * k + t] * W[j * k + t];
            O[i * m + j] = acc > 0.f ? acc : 0.f;
        }
    return out;
}
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("linear_relu", &linear_relu); }
"""


def _build():
    folder = tempfile.mkdtemp(prefix="ks_src_")
    if not os.path.realpath(folder).startswith(os.path.realpath(os.getcwd()) + os.sep):
        raise RuntimeError(f"temporary folder {folder} is outside the worker's folder {os.getcwd()}")
    path = os.path.join(folder, "linear_relu.cpp")
    with open(path, "w") as f:
        f.write(_SRC)
    try:
        return load(name="ks_test_linear_relu_file", sources=[path], extra_cflags=["-O2"])
    finally:
        shutil.rmtree(folder, ignore_errors=True)


_ext = _build()


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        return _ext.linear_relu(x, self.lin.weight, self.lin.bias)
