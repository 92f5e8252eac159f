# kernelswarm-test: problem=train_rmsnorm_linear verdict=incorrect check=correctness
# A detached output dressed up to pass a requires_grad check: the exact forward, cut from the
# graph and made a fresh leaf that requires grad. Backward runs without error and reaches nothing:
# no input or parameter gradient is ever set.
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self, hidden, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(1.0 + 0.2 * torch.randn(hidden))
        self.proj = nn.Linear(hidden, hidden)
        self.eps = eps

    def forward(self, x):
        y = x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps) * self.weight
        return self.proj(y).detach().requires_grad_(True)
