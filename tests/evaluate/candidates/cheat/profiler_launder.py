# kernelswarm-test: problem=relu_linear verdict=accepted kind=pytorch-rewrite static=off slow timeout=900
# kernelswarm-test: problem=relu_linear verdict=rejected check=strict static=off strict slow timeout=900
# Its own kernel runs only under the profiler: the label (custom-kernel or pytorch-rewrite) comes
# from one profiled call after the timing, and the profiler is easy to see from inside
# (torch.autograd's profiler state). Under it, a C++ loop of its own does the whole layer; in
# every other call (correctness, timing, bursts) PyTorch does. Labelled a custom kernel, it would
# pass strict mode at PyTorch's speed.
import torch
from torch import nn
from torch.utils.cpp_extension import load_inline

_SRC = r"""
torch::Tensor relu_linear(torch::Tensor x, torch::Tensor w, torch::Tensor b) {
    auto xc = x.contiguous(); auto wc = w.contiguous();
    auto out = torch::empty({x.size(0), w.size(0)}, x.options());
    const float* xp = xc.data_ptr<float>(); const float* wp = wc.data_ptr<float>();
    const float* bp = b.data_ptr<float>(); float* op = out.data_ptr<float>();
    int64_t n = x.size(0), k = x.size(1), m = w.size(0);
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < m; ++j) {
            float acc = bp[j];
            for (int64_t t = 0; t < k; ++t) acc += xp[i * k + t] * wp[j * k + t];
            op[i * m + j] = acc > 0.f ? acc : 0.f;
        }
    return out;
}
"""
_ext = load_inline(name="ks_test_launder", cpp_sources=_SRC, functions=["relu_linear"])


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        if torch.autograd.profiler._is_profiler_enabled:
            return _ext.relu_linear(x, self.lin.weight, self.lin.bias)
        return torch.relu(self.lin(x))
