# kernelswarm-test: problem=relu_linear verdict=accepted device=cuda
# A CuPy kernel (NVRTC-compiled, cached by CuPy on disk): under the sandbox its cache must be in the
# worker's own folder (CUPY_CACHE_DIR), not ~/.cupy, or the import fails with PermissionError.
import cupy
import torch
import torch.nn as nn

_relu = cupy.RawKernel(r"""
extern "C" __global__ void ks_cupy_relu(const float* x, float* y, long long n) {
    long long i = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (i < n) y[i] = x[i] > 0.f ? x[i] : 0.f;
}
""", "ks_cupy_relu")
_relu.compile()  # at import, under the sandbox


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        y = self.lin(x).contiguous()
        out = torch.empty_like(y)
        n = y.numel()
        with cupy.cuda.ExternalStream(torch.cuda.current_stream().cuda_stream):
            _relu(((n + 255) // 256,), (256,), (cupy.from_dlpack(y), cupy.from_dlpack(out), cupy.int64(n)))
        return out
