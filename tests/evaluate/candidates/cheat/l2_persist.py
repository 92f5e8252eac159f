# kernelswarm-test: device=cuda problem=relu_big verdict=rejected check=static
# Pins its input in a persisting L2 window so the cache flush misses it.
import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

_src = r"""
#include <cuda_runtime.h>
void pin(torch::Tensor x) {
    cudaStreamAttrValue attr = {};
    attr.accessPolicyWindow.base_ptr = x.data_ptr();
    attr.accessPolicyWindow.num_bytes = x.numel() * 4;
    attr.accessPolicyWindow.hitRatio = 1.0;
    attr.accessPolicyWindow.hitProp = cudaAccessPropertyPersisting;
    attr.accessPolicyWindow.missProp = cudaAccessPropertyStreaming;
    cudaStreamSetAttribute(0, cudaStreamAttributeAccessPolicyWindow, &attr);
}
"""
_ext = load_inline(name="ks_gpu_pin", cpp_sources="void pin(torch::Tensor x);", cuda_sources=_src, functions=["pin"])


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        _ext.pin(x)
        return torch.relu(x)
