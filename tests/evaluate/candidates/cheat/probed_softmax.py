# kernelswarm-test: problem=softmax_rows verdict=incorrect check=correctness
# Unstable (no max subtraction) unless one probed element is large: a stress trial that scales
# every element at once shows in x[0, 0], so it takes the stable path there and passes; only
# inputs whose large elements are elsewhere overflow it. Stress trials that scale each element
# on its own (a large x[0, 0] in about one trial of 32) catch it.
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        if x[0, 0].abs() >= 20:
            x = x - x.amax(dim=1, keepdim=True)
        e = x.exp()
        return e / e.sum(dim=1, keepdim=True)
