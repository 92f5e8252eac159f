# The user's model for the hostile training-step fixtures (test_steps_hostile.py): an MLP whose
# step is mostly three matrix products forward and backward.
import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.region = nn.Sequential(nn.Linear(128, 512), nn.GELU(), nn.Linear(512, 128))

    def forward(self, x):
        return self.region(x)


def get_inputs():
    return [torch.randn(64, 128)]


def get_init_inputs():
    return []
