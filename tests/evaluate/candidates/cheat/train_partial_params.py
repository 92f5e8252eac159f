# kernelswarm-test: problem=train_rmsnorm_linear verdict=incorrect check=correctness
# Gradients for some parameters only: the linear layer's bias is used detached, so its .grad
# stays None (the forward is exact). An optimizer would silently never update it.
import torch
import torch.nn as nn
import torch.nn.functional as F


class ModelNew(nn.Module):
    def __init__(self, hidden, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(1.0 + 0.2 * torch.randn(hidden))
        self.proj = nn.Linear(hidden, hidden)
        self.eps = eps

    def forward(self, x):
        y = x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps) * self.weight
        return F.linear(y, self.proj.weight, self.proj.bias.detach())
