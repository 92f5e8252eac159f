# kernelswarm-test: problem=relu_linear verdict=rejected check=protocol static=off
# kernelswarm-test: device=cuda problem=relu_linear verdict=rejected check=protocol static=off
# kernelswarm-test: problem=relu_linear verdict=rejected check=static
# Writes a raw `{"ok": true}` frame on the worker's own reply channel in the middle of a call, so
# that the evaluator reads it as the worker's answer (it once crashed on the missing fields).
import json
import struct
import sys

import torch
import torch.nn as nn


def _forge(header):
    data = json.dumps(header).encode()
    getattr(__import__("o" + "s"), "write")(int(sys.argv[-1]), struct.pack("<QQ", len(data), 0) + data)


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        if self.calls == 3:
            _forge({"ok": True})
        return torch.relu(self.lin(x))
