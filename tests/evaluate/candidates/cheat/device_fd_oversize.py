# kernelswarm-test: device=cuda problem=relu_big verdict=incorrect check=correctness static=off
# States a larger block than it exported, with one more output reaching into the part that does
# not exist: a receiver that trusted the size would read past the allocation (another process's
# memory, or a fault that kills the clean worker). The driver refuses to map more than the
# allocation holds, so its outputs are unreadable: incorrect, and the clean worker goes on.
import importlib

import torch
import torch.nn as nn

_devmem = importlib.import_module("kernelswarm.evaluate.worker.devmem")
_real = _devmem.export


def _export(outputs):
    block = _real(outputs)
    extra = 32 << 20
    block.entries = block.entries + [{"dtype": "uint8", "shape": [extra], "offset": block.size}]
    block.size += extra
    return block


_devmem.export = _export


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        return torch.relu(x)
