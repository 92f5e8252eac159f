# A hand-written kernel for ResNet-50's convolution layers (transformers' ResNetConvLayer: Conv2d
# without bias -> BatchNorm2d in inference -> ReLU or nothing).
# With the ReLU, on CUDA: the batch norm folded into the convolution (weight * s, bias beta - mean * s,
# s = gamma / sqrt(var + eps), recomputed from the live parameters every call: a few small kernels
# over the weights, not the activations), then convolution, bias and ReLU in one cuDNN call
# (torch.cudnn_convolution_relu): one kernel where eager makes three (convolution, normalization,
# activation) and torch.compile two (convolution, a fused Triton epilogue). Without the ReLU, or where
# that call is missing or refused: cuDNN's convolution, then batch norm and the ReLU as one Triton
# pass over its output, in place; each program takes one (image, channel) plane, so the channel's
# four statistics are loaded once per program, not per element.
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


_CONV_RELU = getattr(torch, "cudnn_convolution_relu", None)  # convolution + bias + ReLU, one cuDNN call
_FUSED_ON = ("cuda",)  # device types it runs on


def _folded(conv, bn):
    """The convolution's weight and bias with the (inference) batch norm folded in."""
    s = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
    return conv.weight * s.view(-1, 1, 1, 1), bn.bias - bn.running_mean * s


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()
        self.region = _ConvLayer()

    def forward(self, x0):
        global _CONV_RELU
        conv, bn = self.region.convolution, self.region.normalization
        if $relu and _CONV_RELU is not None and x0.device.type in _FUSED_ON:
            w, b = _folded(conv, bn)
            try:
                return _CONV_RELU(x0.contiguous(), w, b, conv.stride, conv.padding, conv.dilation, conv.groups)
            except RuntimeError:  # not in this build's cuDNN for these shapes: the Triton epilogue instead
                _CONV_RELU = None
        y = F.conv2d(x0, conv.weight, None, conv.stride, conv.padding).contiguous()
        n, c, h, w = y.shape
        hw = h * w
        block = min(1024, triton.next_power_of_2(hw))
        _bn_act[(n * c, triton.cdiv(hw, block))](y, bn.weight, bn.bias, bn.running_mean, bn.running_var, c, hw,
                                                 bn.eps, RELU=$relu, BLOCK=block, num_warps=4 if block >= 512 else 2)
        return y
