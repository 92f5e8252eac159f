# kernelswarm-test: problem=standardize_rows verdict=accepted
# kernelswarm-test: device=cuda problem=standardize_rows verdict=accepted
# An honest standardisation from one pass of sums (the variance as E[x^2] - E[x]^2): on a constant
# row it divides a rounding residue by a rounding residue (finite, or NaN, or inf) where the
# float64 reference gives NaN. The structured trial does not judge elements whose reference is not
# finite; the random trials judge every element.
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        n = x.shape[1]
        s1 = x.sum(dim=1, keepdim=True)
        s2 = (x * x).sum(dim=1, keepdim=True)
        mean = s1 / n
        var = (s2 - s1 * mean).clamp_min(0) / (n - 1)
        return (x - mean) / var.sqrt()
