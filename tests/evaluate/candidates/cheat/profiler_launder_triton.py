# kernelswarm-test: device=cuda problem=relu_big verdict=accepted kind=pytorch-rewrite static=off
# kernelswarm-test: device=cuda problem=relu_big verdict=rejected check=strict static=off strict
# cheat/profiler_launder on a GPU, with a Triton kernel: its own kernel runs only while the
# profiler is on (the one profiled call that decides the label), PyTorch does every other call.
# On CUDA the label came from the profile alone, so it was a custom kernel and passed strict mode.
import torch
import torch.nn as nn
import triton
import triton.language as tl


@triton.jit
def relu_kernel(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask)
    tl.store(y_ptr + offs, tl.maximum(x, 0.0), mask=mask)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        if torch.autograd.profiler._is_profiler_enabled:
            y = torch.empty_like(x)
            n = x.numel()
            relu_kernel[(triton.cdiv(n, 4096),)](x, y, n, BLOCK=4096)
            return y
        return torch.relu(x)
