# kernelswarm-test: problem=softmax_rows verdict=incorrect check=correctness
# kernelswarm-test: problem=softmax_rows verdict=incorrect check=correctness static=off
# kernelswarm-test: device=cuda problem=softmax_rows verdict=incorrect check=correctness
# A softmax that takes the row's largest element to be unique: its term is exactly 1, so the sum
# is 1 plus the other elements' terms, skipping every element equal to the max. Random rows never
# tie at their max; a row with repeated values (quantised data, a constant row) does, and its sum
# then misses the tied terms.
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        m = x.amax(dim=1, keepdim=True)
        e = (x - m).exp()
        others = torch.where(x == m, torch.zeros_like(e), e)
        return e / (1.0 + others.sum(dim=1, keepdim=True))
