# kernelswarm-test: problem=train_rmsnorm_linear verdict=incorrect check=correctness
# kernelswarm-test: problem=train_rmsnorm_linear verdict=incorrect check=correctness device=cuda
# The fused-backward bug from the public account: the weight gradient's reduction over tokens
# accumulates in bf16 (partial sums rounded to bf16), under the fp32 policy.
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
        gw = g * w
        dx = r * gw - x * r.pow(3) * (gw * x).mean(dim=-1, keepdim=True)
        acc = torch.zeros(w.shape, dtype=torch.bfloat16, device=w.device)
        for part in (g * x * r).split(4, dim=0):
            acc = acc + part.sum(dim=0).to(torch.bfloat16)
        return dx, acc.to(w.dtype), None


class ModelNew(nn.Module):
    def __init__(self, hidden, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(1.0 + 0.2 * torch.randn(hidden))
        self.proj = nn.Linear(hidden, hidden)
        self.eps = eps

    def forward(self, x):
        return self.proj(_RMSNorm.apply(x, self.weight, self.eps))
