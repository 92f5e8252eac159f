# kernelswarm-test: problem=relu_linear verdict=runtime_error|rejected static=off
# Closes the worker's reply channel mid-call: the evaluator must give a verdict, not hang or crash.
import sys

import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        getattr(__import__("o" + "s"), "close")(int(sys.argv[-1]))
        return torch.relu(self.lin(x))
