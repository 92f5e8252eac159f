# kernelswarm-test: problem=relu_linear verdict=accepted kind=pytorch-rewrite slow timeout=600
# kernelswarm-test: problem=relu_linear verdict=rejected check=strict strict slow timeout=600
# A real kernel on a sliver of the work (adv15's left item a): its own C++ kernel computes the whole
# layer only while the profiler records (the label's call), and in every other call one row of the
# output, PyTorch's addmm the rest. Each timed call calls its extension, so counting which timed
# calls called it (timed_ext_share) saw 100%; the profile saw its kernel do all the work. Charged
# by the extension's share of the timed calls' own CPU time: one row of 64.
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
_ext = load_inline(name="ks_test_decoy_sliver", cpp_sources=_src, functions=["linear_relu"], extra_cflags=["-O2"])


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        w, b = self.lin.weight, self.lin.bias
        if torch.autograd._profiler_enabled():
            return _ext.linear_relu(x, w, b)
        out = torch.relu(torch.addmm(b, x, w.t()))
        out[:1] = _ext.linear_relu(x[:1], w, b)
        return out
