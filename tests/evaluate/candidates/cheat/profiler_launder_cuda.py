# kernelswarm-test: device=cuda problem=relu_big verdict=accepted kind=pytorch-rewrite static=off
# kernelswarm-test: device=cuda problem=relu_big verdict=rejected check=strict static=off strict
# cheat/profiler_launder on a GPU, with CUDA C++ built by load_inline: its kernel runs only while
# the profiler is on. The extension's calls are now counted in the timed calls on CUDA as well.
import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

_cuda = r"""
__global__ void relu_fwd(const float* __restrict__ x, float* __restrict__ y, long n) {
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = x[i] > 0.f ? x[i] : 0.f;
}
torch::Tensor relu_cuda(torch::Tensor x) {
    auto y = torch::empty_like(x);
    long n = x.numel();
    relu_fwd<<<(n + 255) / 256, 256>>>(x.data_ptr<float>(), y.data_ptr<float>(), n);
    return y;
}
"""
_ext = load_inline(name="ks_gpu_launder", cpp_sources="torch::Tensor relu_cuda(torch::Tensor x);", cuda_sources=_cuda,
                   functions=["relu_cuda"], extra_cuda_cflags=["-O3"])


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        if torch.autograd.profiler._is_profiler_enabled:
            return _ext.relu_cuda(x.contiguous())
        return torch.relu(x)
