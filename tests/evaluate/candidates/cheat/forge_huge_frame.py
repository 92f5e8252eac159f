# kernelswarm-test: problem=relu_linear verdict=rejected check=protocol static=off
# kernelswarm-test: device=cuda problem=relu_linear verdict=rejected check=protocol static=off
# Announces a frame of 15 GiB on the worker's channel: the evaluator must not try to read (or
# allocate) it.
import struct
import sys

import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        getattr(__import__("o" + "s"), "write")(int(sys.argv[-1]), struct.pack("<QQ", 2, 15 << 30) + b"{}")
        return torch.relu(self.lin(x))
