# kernelswarm-test: problem=relu_linear verdict=runtime_error static=off
# kernelswarm-test: problem=relu_linear verdict=rejected check=static
# Dies with SIGSEGV mid-evaluation (reached through getattr so the static screen does not stop it first).
import os

import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()

    def forward(self, x):
        getattr(os, "ki" + "ll")(os.getpid(), 11)
