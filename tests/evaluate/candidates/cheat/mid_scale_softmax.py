# kernelswarm-test: problem=softmax_rows verdict=incorrect
# kernelswarm-test: problem=softmax_rows verdict=incorrect static=off
# kernelswarm-test: device=cuda problem=softmax_rows verdict=incorrect
# Wrong only for rows whose largest element lies between the magnitudes the stress trials use: a
# "fast path" for rows whose max is at most 88 (no overflow, so no max subtraction) clamps its
# exponent at 24, as its authors only ever tried unit-scale data (row max about 13 here). Rows
# with a max between 24 and 88 come out wrong. The x0.01 and x100 trials never make such a row,
# and the mixed trials (1 element in 32 scaled by 100, half of them negative) make one in about
# 1 in 12 evaluations. Each row scaled on its own between x0.01 and x100 makes several every time.
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        m = x.amax(dim=1, keepdim=True)
        fast = m <= 88.0
        e = torch.where(fast, torch.exp(x.clamp(max=24.0)), torch.exp(x - m))
        return e / e.sum(dim=1, keepdim=True)
