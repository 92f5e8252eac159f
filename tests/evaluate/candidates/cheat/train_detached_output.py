# kernelswarm-test: problem=train_rmsnorm_linear verdict=incorrect check=gradients
# kernelswarm-test: problem=train_rmsnorm_linear verdict=incorrect check=gradients device=cuda
# A fast forward under no_grad: the output is exact but detached from the graph, so no gradient
# can flow back (an inference kernel passed off as a training one).
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self, hidden, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(1.0 + 0.2 * torch.randn(hidden))
        self.proj = nn.Linear(hidden, hidden)
        self.eps = eps

    def forward(self, x):
        with torch.no_grad():
            y = x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps) * self.weight
            return self.proj(y)
