"""Honest (tiny_linear's linear + ReLU), and it prints the environment its worker holds: every
variable's name and a digest of its value (a digest, since printed values are scrubbed), so that
a test can see what reached the process that runs a candidate."""

import hashlib
import os

import torch
import torch.nn as nn

print("worker environment: " + " ".join(
    f"{name}={hashlib.sha256(value.encode()).hexdigest()[:16]}" for name, value in sorted(os.environ.items())))


class ModelNew(nn.Module):
    def __init__(self, features: int):
        super().__init__()
        self.linear = nn.Linear(features, features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.linear(x))
