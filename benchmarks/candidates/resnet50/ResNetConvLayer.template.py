# A hand-written Triton epilogue for ResNet-50's convolution layers (transformers' ResNetConvLayer:
# Conv2d without bias -> BatchNorm2d in inference -> ReLU or nothing). The convolution stays
# cuDNN's; batch norm and the ReLU are one Triton pass over its output, in place, where eager
# PyTorch makes two (the normalization, then the activation). Each program takes one (image,
# channel) plane, so the channel's four statistics are loaded once per program, not per element.
# A template: benchmarks/optimize_models.py fills $in_channels, $out_channels, $kernel_size,
# $stride, $padding, $relu and $eps with the hottest ResNetConvLayer task's figures and brings it
# as that task's candidate (DIR/<task name>.py).
import torch
import torch.nn as nn
import torch.nn.functional as F
import triton
import triton.language as tl


@triton.jit
def _bn_act(y_ptr, gamma_ptr, beta_ptr, mean_ptr, var_ptr, channels, hw, eps,
            RELU: tl.constexpr, BLOCK: tl.constexpr):
    plane = tl.program_id(0)  # image * channels + channel
    c = plane % channels
    scale = tl.load(gamma_ptr + c) / tl.sqrt_rn(tl.load(var_ptr + c) + eps)
    shift = tl.load(beta_ptr + c) - tl.load(mean_ptr + c) * scale
    offs = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < hw
    ptrs = y_ptr + plane.to(tl.int64) * hw + offs
    v = tl.load(ptrs, mask=mask, other=0.0) * scale + shift
    if RELU:
        v = tl.maximum(v, 0.0)
    tl.store(ptrs, v, mask=mask)


class _ConvLayer(nn.Module):
    """The parameter and buffer names of ResNetConvLayer (the user's weights load by name)."""

    def __init__(self):
        super().__init__()
        self.convolution = nn.Conv2d($in_channels, $out_channels, kernel_size=$kernel_size, stride=$stride,
                                     padding=$padding, bias=False)
        self.normalization = nn.BatchNorm2d($out_channels, eps=$eps)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()
        self.region = _ConvLayer()

    def forward(self, x0):
        conv, bn = self.region.convolution, self.region.normalization
        y = F.conv2d(x0, conv.weight, None, conv.stride, conv.padding).contiguous()
        n, c, h, w = y.shape
        hw = h * w
        block = min(1024, triton.next_power_of_2(hw))
        _bn_act[(n * c, triton.cdiv(hw, block))](y, bn.weight, bn.bias, bn.running_mean, bn.running_var, c, hw,
                                                 bn.eps, RELU=$relu, BLOCK=block, num_warps=4 if block >= 512 else 2)
        return y
