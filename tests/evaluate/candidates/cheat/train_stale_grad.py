# kernelswarm-test: problem=train_rmsnorm_linear verdict=incorrect check=correctness
# kernelswarm-test: problem=train_rmsnorm_linear verdict=incorrect check=correctness device=cuda
# Fused weight-gradient accumulation into a buffer that is never zeroed (as Megatron's main_grad
# does, minus the zeroing): the backward adds into the stale buffer and hands it over as .grad.
# The first call is exact; every later one carries the sum of all earlier gradients.
import torch
import torch.nn as nn


class _RMSNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, eps, buf):
        r = torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps)
        ctx.save_for_backward(x, w, r)
        ctx.buf, ctx.w = buf, w
        return x * r * w

    @staticmethod
    def backward(ctx, g):
        x, w, r = ctx.saved_tensors
        gw = g * w
        dx = r * gw - x * r.pow(3) * (gw * x).mean(dim=-1, keepdim=True)
        ctx.buf.add_((g * x * r).sum(dim=0))
        ctx.w.grad = ctx.buf.clone()
        return dx, None, None, None


class ModelNew(nn.Module):
    def __init__(self, hidden, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(1.0 + 0.2 * torch.randn(hidden))
        self.proj = nn.Linear(hidden, hidden)
        self.eps = eps
        self.register_buffer("main_grad", torch.zeros(hidden), persistent=False)

    def forward(self, x):
        return self.proj(_RMSNorm.apply(x, self.weight, self.eps, self.main_grad))
