# kernelswarm-test: problem=relu_linear verdict=runtime_error static=off
# kernelswarm-test: problem=relu_linear verdict=rejected check=static
# Prints a fake verdict and exits with status 0 before the harness can check anything.
import os

import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()

    def forward(self, x):
        print('{"verdict": "accepted", "correct": true, "speedup": 100.0}')
        print("PASS")
        getattr(os, "_ex" + "it")(0)
