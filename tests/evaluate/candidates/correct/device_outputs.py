# kernelswarm-test: device=cuda problem=relu_big verdict=accepted kind=pytorch-rewrite
# Outputs of 64 MiB on the device: where the reference's worker can take descriptors from the
# evaluator, they stay on the device (wire/devfd.py) and the clean worker copies them out there;
# every trial and kept output must still read back exactly as it was returned.
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        return torch.clamp_min(x, 0.0)
