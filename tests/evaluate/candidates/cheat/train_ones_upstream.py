# kernelswarm-test: problem=train_rmsnorm_linear verdict=incorrect check=correctness
# kernelswarm-test: problem=train_rmsnorm_linear verdict=incorrect check=correctness device=cuda
# A backward that is right only when the upstream gradient is all ones (as from loss = out.sum()):
# it never reads the gradient it is given. A harness that backpropagates ones cannot tell.
import torch
import torch.nn as nn


class _RMSNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, eps):
        r = torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps)
        ctx.save_for_backward(x, w, r)
        return x * r * w

    @staticmethod
    def backward(ctx, g):
        x, w, r = ctx.saved_tensors
        g = torch.ones_like(g)
        gw = g * w
        dx = r * gw - x * r.pow(3) * (gw * x).mean(dim=-1, keepdim=True)
        return dx, (g * x * r).sum(dim=0), None


class ModelNew(nn.Module):
    def __init__(self, hidden, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(1.0 + 0.2 * torch.randn(hidden))
        self.proj = nn.Linear(hidden, hidden)
        self.eps = eps

    def forward(self, x):
        return self.proj(_RMSNorm.apply(x, self.weight, self.eps))
