# kernelswarm-test: device=cuda problem=relu_big verdict=accepted kind=pytorch-rewrite
# kernelswarm-test: device=cuda problem=relu_big verdict=rejected check=strict strict
# Defines (and even compiles) a Triton kernel, but PyTorch does the work.
import torch
import torch.nn as nn
import triton
import triton.language as tl


@triton.jit
def unused_relu_kernel(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(y_ptr + offs, tl.maximum(tl.load(x_ptr + offs, mask=offs < n), 0.0), mask=offs < n)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        return torch.relu(x)
