# Honest in every value but one: the first layer's weight gradient is 1% too large (a cheaper
# backward that drops a normalisation would be off by a constant factor alike). Its forward and
# loss are exact, and AdamW divides a gradient's scale out of its update: only the momentum SGD
# steps see it (their updates move 1% off, ten times the floor), so the check must fail there.
import torch
import torch.nn as nn


class _Scaled(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        return x @ w.t() + b

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        return g @ w, 1.01 * (g.t() @ x), g.sum(0)


class _Linear(nn.Linear):
    def forward(self, x):
        return _Scaled.apply(x, self.weight, self.bias)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()
        self.region = nn.Sequential(_Linear(128, 512), nn.GELU(), nn.Linear(512, 128))

    def forward(self, x):
        return self.region(x)
