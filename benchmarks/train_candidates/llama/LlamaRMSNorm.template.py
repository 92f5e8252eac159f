# A hand-written Triton RMSNorm for training, as a template for any LlamaRMSNorm region of a
# whole model (benchmarks/optimize_models.py --mode train: filled with the hottest such task's
# $$hidden and $$eps, brought as that task's candidate). The kernels are those of
# benchmarks/train_candidates/rms_norm_train.py: forward one program per row with the inverse RMS
# kept; backward a fixed grid, every gradient accumulated in fp32. The region's weight keeps its
# name (region.weight), so the user's weights load and, in training mode, the assembled model's
# winner trains the model's own parameter.
import torch
import torch.nn as nn
import triton
import triton.language as tl


@triton.jit
def _rms_fwd(X, W, Y, RSTD, stride, N, eps, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < N
    x = tl.load(X + row * stride + cols, mask=mask, other=0.0).to(tl.float32)
    rstd = 1.0 / tl.sqrt_rn(tl.sum(x * x, axis=0) / N + eps)
    w = tl.load(W + cols, mask=mask, other=0.0).to(tl.float32)
    tl.store(Y + row * stride + cols, x * rstd * w, mask=mask)
    tl.store(RSTD + row, rstd)


@triton.jit
def _rms_bwd(DY, X, W, RSTD, DX, DW_PART, stride, M, N, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    programs = tl.num_programs(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < N
    w = tl.load(W + cols, mask=mask, other=0.0).to(tl.float32)
    dw = tl.zeros([BLOCK], dtype=tl.float32)
    for row in range(pid, M, programs):
        x = tl.load(X + row * stride + cols, mask=mask, other=0.0).to(tl.float32)
        dy = tl.load(DY + row * stride + cols, mask=mask, other=0.0).to(tl.float32)
        rstd = tl.load(RSTD + row)
        gw = dy * w
        c = tl.sum(gw * x, axis=0) / N
        tl.store(DX + row * stride + cols, rstd * gw - x * (rstd * rstd * rstd) * c, mask=mask)
        dw += dy * x * rstd
    tl.store(DW_PART + pid * N + cols, dw, mask=mask)


def _warps(block: int) -> int:
    return 16 if block >= 8192 else 8 if block >= 2048 else 4


class _RMSNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, eps):
        shape = x.shape
        x2 = x.reshape(-1, shape[-1]).contiguous()
        m, n = x2.shape
        y = torch.empty_like(x2)
        rstd = torch.empty(m, device=x.device, dtype=torch.float32)
        block = triton.next_power_of_2(n)
        _rms_fwd[(m,)](x2, weight, y, rstd, x2.stride(0), n, eps, BLOCK=block, num_warps=_warps(block))
        ctx.save_for_backward(x2, weight, rstd)
        ctx.shape = shape
        return y.view(shape)

    @staticmethod
    def backward(ctx, dy):
        x2, weight, rstd = ctx.saved_tensors
        m, n = x2.shape
        dy2 = dy.reshape(m, n).contiguous()
        dx = torch.empty_like(x2)
        sms = torch.cuda.get_device_properties(x2.device).multi_processor_count if x2.is_cuda else 4
        programs = max(1, min(m, 4 * sms))
        part = torch.empty((programs, n), device=x2.device, dtype=torch.float32)
        block = triton.next_power_of_2(n)
        _rms_bwd[(programs,)](dy2, x2, weight, rstd, dx, part, x2.stride(0), m, n, BLOCK=block,
                              num_warps=_warps(block))
        return dx.view(ctx.shape), part.sum(dim=0).to(weight.dtype), None


class _Norm(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones($hidden))
        self.variance_epsilon = $eps


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()
        self.region = _Norm()

    def forward(self, x0):
        r = self.region
        return _RMSNorm.apply(x0, r.weight, r.variance_epsilon)
