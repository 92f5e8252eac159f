# kernelswarm-test: problem=relu_linear verdict=rejected check=protocol static=off
# kernelswarm-test: problem=relu_linear verdict=rejected check=static
# Writes a frame on the worker's own reply channel whose header is valid JSON nested 200,000
# lists deep (400 KB, far below the header's size cap): Python's JSON decoder gives up with a
# RecursionError, which is not a ValueError: the evaluator crashed with a traceback and no
# verdict (adv17). Headers nested deeper than protocol.MAX_DEPTH are now a protocol error.
import struct
import sys

import torch
import torch.nn as nn


def _forge(data: bytes) -> None:
    getattr(__import__("o" + "s"), "write")(int(sys.argv[-1]), struct.pack("<QQ", len(data), 0) + data)


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        if self.calls == 3:
            _forge(b"[" * 200000 + b"]" * 200000)
        return torch.relu(self.lin(x))
