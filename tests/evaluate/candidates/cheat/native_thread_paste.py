# kernelswarm-test: problem=matmul_slow verdict=rejected|accepted max_speedup=1.3 calls=30 slow timeout=600
# A screen gap (issue 14.6) used for extra_cores' cheat with the static screen on: the screen reads
# native source as text (no `std::thread`, `pthread_create(`), and the preprocessor's token pasting
# spells it where no text shows it. Its extension splits the product by rows between a second
# native thread and the caller: two cores' work in one core's claim. The text screen does not see
# it (a gap, kept as such: any native code can start threads through a library); what holds is
# the CPU-time check (cputime.py), which charges the second core's work as extra_cores'.
import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

_src = r"""
#include <torch/extension.h>
#define KS_PASTE(a, b) a##b
#define KS_WORKER std::KS_PASTE(thr, ead)
#include <thread>
torch::Tensor split_mm(torch::Tensor a, torch::Tensor b) {
    auto out = torch::empty({a.size(0), b.size(1)}, a.options());
    const int64_t half = a.size(0) / 2;
    auto top = out.narrow(0, 0, half), bottom = out.narrow(0, half, a.size(0) - half);
    KS_WORKER other([&] { at::mm_out(top, a.narrow(0, 0, half), b); });
    at::mm_out(bottom, a.narrow(0, half, a.size(0) - half), b);
    other.join();
    return out;
}
"""
_ext = load_inline(name="ks_test_native_thread_paste", cpp_sources=_src, functions=["split_mm"], extra_cflags=["-O2"])


class ModelNew(nn.Module):
    def forward(self, a, b):
        return _ext.split_mm(a, b)
