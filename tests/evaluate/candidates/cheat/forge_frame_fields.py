# kernelswarm-test: problem=relu_linear verdict=rejected check=protocol static=off
# Answers the timed calls itself with a well-framed reply of the wrong types (a string for the
# time, no fingerprint), written on the worker's channel before the worker's own reply.
import json
import struct
import sys

import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        if self.calls > 40:  # past the trials and the warm-up: inside the timed calls
            data = json.dumps({"ok": True, "ms": "0.001", "python_threads": 0}).encode()
            getattr(__import__("o" + "s"), "write")(int(sys.argv[-1]), struct.pack("<QQ", len(data), 0) + data)
        return torch.relu(self.lin(x))
