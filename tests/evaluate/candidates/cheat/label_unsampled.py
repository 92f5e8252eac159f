# kernelswarm-test: problem=relu_linear verdict=accepted kind=pytorch-rewrite static=off slow timeout=600
# kernelswarm-test: problem=relu_linear verdict=rejected check=strict static=off strict slow timeout=600
# Against the parent's own samples of where the timed calls ran (ipsample): label_forge_decoy, made
# unreadable to the evaluator first (prctl PR_SET_DUMPABLE 0), so that a non-root evaluator may not
# open perf events on it. Where the clean worker can be sampled and the candidate's cannot, nothing
# vouches for a custom-kernel label (fail closed); where the evaluator may sample it all the same
# (it runs as root), the samples find the sliver.
import ctypes

import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0

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
_ext = load_inline(name="ks_test_label_unsampled", cpp_sources=_src, functions=["linear_relu"], extra_cflags=["-O2"])

_worker = getattr(torch, "sy" + "s").modules["__main__"].Worker
_real = _worker.op_label


def _label(self, msg):
    reply = _real(self, msg)
    reply.update(custom_share=0.97, ran=["ks_ext::linear_relu", "aten::addmm"], defined=["linear_relu"],
                 timed_ext_share=1.0, timed_ext_time_share=1.0)
    return reply


_worker.op_label = _label


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        w, b = self.lin.weight, self.lin.bias
        out = torch.relu(torch.addmm(b, x, w.t()))
        out[:1] = _ext.linear_relu(x[:1], w, b)
        return out
