# A hand-written C++ kernel for the tinynet task `blocks_mlp` (Linear -> GELU -> Linear): one
# registered operator does the whole MLP, its GELU (tanh approximation)
# a hand-written loop over the hidden layer, one pass where the reference makes eight.
import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

_src = r"""
#include <torch/extension.h>
#include <cmath>

at::Tensor mlp(const at::Tensor& x, const at::Tensor& w1, const at::Tensor& b1,
               const at::Tensor& w2, const at::Tensor& b2) {
    auto x2 = x.reshape({-1, x.size(-1)});
    auto h = at::addmm(b1, x2, w1.t()).contiguous();
    float* p = h.data_ptr<float>();
    const int64_t n = h.numel();
    for (int64_t i = 0; i < n; ++i) {
        const float v = p[i];
        p[i] = 0.5f * v * (1.0f + std::tanh(0.7978845608028654f * (v + 0.044715f * v * v * v)));
    }
    auto y = at::addmm(b2, h, w2.t());
    auto sizes = x.sizes().vec();
    sizes.back() = w2.size(0);
    return y.reshape(sizes);
}

TORCH_LIBRARY(ks_tinynet, m) {
    m.def("mlp(Tensor x, Tensor w1, Tensor b1, Tensor w2, Tensor b2) -> Tensor", &mlp);
}
"""
load_inline(name="ks_tinynet_mlp", cpp_sources=_src, is_python_module=False, extra_cflags=["-O2"])


class _MLP(nn.Module):
    def __init__(self, dim=32):
        super().__init__()
        self.up = nn.Linear(dim, 4 * dim)
        self.down = nn.Linear(4 * dim, dim)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()
        self.region = _MLP()

    def forward(self, x0):
        r = self.region
        return torch.ops.ks_tinynet.mlp(x0, r.up.weight, r.up.bias, r.down.weight, r.down.bias)
