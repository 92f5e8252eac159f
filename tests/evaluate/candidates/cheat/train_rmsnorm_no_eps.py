# kernelswarm-test: problem=train_rmsnorm_linear verdict=incorrect check=correctness
# kernelswarm-test: problem=train_rmsnorm_linear verdict=incorrect check=correctness static=off
# Training mode: an RMSNorm that drops the epsilon (one add fewer; on random rows eps=1e-6 against
# a mean square near 1 moves nothing the tolerance sees). A row of zeros (a padding token) then
# gives 0 * inf = NaN where the reference gives the bias alone.
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self, hidden, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(1.0 + 0.2 * torch.randn(hidden))
        self.proj = nn.Linear(hidden, hidden)
        self.eps = eps

    def forward(self, x):
        y = x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True)) * self.weight
        return self.proj(y)
