# kernelswarm-test: device=cuda problem=relu_big verdict=accepted kind=pytorch-rewrite static=off
# kernelswarm-test: device=cuda problem=relu_big verdict=rejected check=strict static=off strict
# cheat/profiler_launder on a GPU with a CuPy kernel (adv15's left item b): its own kernel runs only
# while the profiler is on (the one profiled call that decides the label), PyTorch does every
# other call. CuPy's kernel classes cannot be patched, so a candidate with only CuPy kernels kept
# its profile's label: a custom kernel, accepted in strict mode. The tracer now puts a counting
# stand-in in place of each CuPy kernel the candidate's module holds (ExtensionTracer.watch_cupy).
import cupy
import torch
import torch.nn as nn

_relu = cupy.RawKernel(r"""
extern "C" __global__ void ks_cupy_launder(const float* x, float* y, long long n) {
    long long i = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (i < n) y[i] = x[i] > 0.f ? x[i] : 0.f;
}
""", "ks_cupy_launder")
_relu.compile()


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        if not torch.autograd._profiler_enabled():
            return torch.relu(x)
        x = x.contiguous()
        out = torch.empty_like(x)
        n = x.numel()
        with cupy.cuda.ExternalStream(torch.cuda.current_stream().cuda_stream):
            _relu(((n + 255) // 256,), (256,), (cupy.from_dlpack(x), cupy.from_dlpack(out), cupy.int64(n)))
        return out
