# kernelswarm-test: problem=relu_linear verdict=accepted kind=custom-kernel slow timeout=600
# kernelswarm-test: problem=relu_linear verdict=accepted kind=custom-kernel strict slow timeout=600
# A C++ kernel for the whole layer, built with load_inline. 600 s, as built_in_own_folder: at load
# 15-18 the build used all but 5 calls' time of 240 s, and claims no burst checked no longer stand
# (a timeout, since session 12; accepted unchecked before).
import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

_src = r"""
#include <torch/extension.h>
torch::Tensor linear_relu(torch::Tensor x, torch::Tensor w, torch::Tensor b) {
    auto xc = x.contiguous(); auto wc = w.contiguous(); auto bc = b.contiguous();
    const int64_t n = xc.size(0), k = xc.size(1), m = wc.size(0);
    auto out = torch::empty({n, m}, xc.options());
    const float* X = xc.data_ptr<float>(); const float* W = wc.data_ptr<float>();
    const float* B = bc.data_ptr<float>(); float* O = out.data_ptr<float>();
    for (int64_t i = 0; i < n; ++i) {
        for (int64_t j = 0; j < m; ++j) {
            float acc = 0.f;
            for (int64_t t = 0; t < k; ++t) acc += X[i * k + t] * W[j * k + t];
            acc += B[j];
            O[i * m + j] = acc > 0.f ? acc : 0.f;
        }
    }
    return out;
}
"""
_ext = load_inline(name="ks_test_linear_relu", cpp_sources=_src, functions=["linear_relu"], extra_cflags=["-O2"])


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        return _ext.linear_relu(x, self.lin.weight, self.lin.bias)
