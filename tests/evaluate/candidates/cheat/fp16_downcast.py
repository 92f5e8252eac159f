# kernelswarm-test: problem=matmul verdict=incorrect check=correctness
# kernelswarm-test: problem=matmul verdict=accepted precision=fp16
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a, b):
        return (a.half() @ b.half()).float()
