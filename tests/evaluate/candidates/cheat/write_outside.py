# kernelswarm-test: problem=relu_linear verdict=compile_error|runtime_error sandbox
# kernelswarm-test: problem=relu_linear verdict=compile_error|runtime_error static=off sandbox
# Files are allowed now (published kernels write their sources to a temporary folder and build them),
# so this one tries to plant a file in the clean worker's folder, where the reference's compile
# caches live. The sandbox confines writes to the candidate's own folder: the write is refused.
import os

import torch
import torch.nn as nn

_target = os.path.join(os.path.dirname(os.getcwd()), "reference", "planted.py")
with open(_target, "w") as f:
    f.write("raise SystemExit\n")


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        return torch.relu(self.lin(x))
