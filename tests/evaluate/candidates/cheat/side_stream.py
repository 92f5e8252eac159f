# kernelswarm-test: device=cuda problem=matmul_big verdict=accepted max_speedup=2.5
# Does the work on a side stream and returns without waiting: the device-wide synchronize
# before the end event puts that work inside the timed window anyway.
import torch
import torch.nn as nn

_side = []


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a, b):
        if not _side:
            _side.append(torch.cuda.Stream())
        out = torch.empty(a.shape[0], b.shape[1], device=a.device)
        with torch.cuda.stream(_side[0]):
            torch.matmul(a, b, out=out)
        return out
