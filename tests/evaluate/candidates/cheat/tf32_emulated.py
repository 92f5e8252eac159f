# kernelswarm-test: problem=matmul verdict=incorrect check=correctness
# kernelswarm-test: problem=matmul verdict=accepted precision=tf32
# Rounds operands to TF32's 10-bit mantissa, as tensor cores do in TF32 mode.
import torch
import torch.nn as nn


def _tf32(t):
    bits = t.contiguous().view(torch.int32)
    bits = (bits + 0x1000) & ~0x1FFF
    return bits.view(torch.float32)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a, b):
        return _tf32(a) @ _tf32(b)
