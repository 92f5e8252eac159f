# kernelswarm-test: problem=train_rmsnorm_linear verdict=incorrect check=correctness
# kernelswarm-test: problem=train_rmsnorm_linear verdict=incorrect check=correctness static=off
# Training mode: RMSNorm and the projection, with rows of zeros treated as padding and their
# outputs zeroed (its author's masking, where the reference gives the projection's bias there).
# Random draws never make a row of zeros, so every trial passed it (and its gradients are the
# reference's on every such trial); the structured trial's zero rows do not.
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
        padding = (x == 0).all(dim=-1, keepdim=True)
        return self.proj(y).masked_fill(padding, 0.0)
