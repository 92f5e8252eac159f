# kernelswarm-test: problem=matmul verdict=accepted
# A legitimate reordering: the K reduction is split into chunks and summed in another order.
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a, b):
        k = a.shape[1]
        parts = [a[:, i:i + 64] @ b[i:i + 64] for i in range(0, k, 64)]
        out = parts[-1].clone()
        for p in reversed(parts[:-1]):
            out += p
        return out
