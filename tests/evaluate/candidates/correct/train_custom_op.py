# kernelswarm-test: problem=train_rmsnorm_linear verdict=accepted
# kernelswarm-test: problem=train_rmsnorm_linear verdict=accepted device=cuda
# Honest: RMSNorm as a torch.library custom operator with its backward registered through
# register_autograd (the way a Triton or C++ kernel is made trainable and torch.compile-able).
import torch
import torch.nn as nn


@torch.library.custom_op("ks_test::rmsnorm", mutates_args=())
def rmsnorm(x: torch.Tensor, w: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    r = torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps)
    return x * r * w, r


@rmsnorm.register_fake
def _(x, w, eps):
    return torch.empty_like(x), x.new_empty(x.shape[:-1] + (1,))


@torch.library.custom_op("ks_test::rmsnorm_backward", mutates_args=())
def rmsnorm_backward(g: torch.Tensor, x: torch.Tensor, w: torch.Tensor, r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    gw = g * w
    dx = r * gw - x * r.pow(3) * (gw * x).mean(dim=-1, keepdim=True)
    return dx, (g * x * r).sum(dim=0)


@rmsnorm_backward.register_fake
def _(g, x, w, r):
    return torch.empty_like(x), torch.empty_like(w)


def _setup(ctx, inputs, output):
    x, w, _ = inputs
    ctx.save_for_backward(x, w, output[1])


def _backward(ctx, g, _g_r):
    x, w, r = ctx.saved_tensors
    dx, dw = rmsnorm_backward(g, x, w, r)
    return dx, dw, None


rmsnorm.register_autograd(_backward, setup_context=_setup)


class ModelNew(nn.Module):
    def __init__(self, hidden, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(1.0 + 0.2 * torch.randn(hidden))
        self.proj = nn.Linear(hidden, hidden)
        self.eps = eps

    def forward(self, x):
        return self.proj(rmsnorm(x, self.weight, self.eps)[0])
