# kernelswarm-test: device=cuda problem=relu_big verdict=rejected check=static
# kernelswarm-test: device=cuda problem=relu_big verdict=rejected check=timer-integrity static=off
# Makes every CUDA event interval look ten times shorter.
import torch
import torch.nn as nn

_real = torch.cuda.Event.elapsed_time
torch.cuda.Event.elapsed_time = lambda self, end: _real(self, end) / 10


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        return torch.relu(x)
