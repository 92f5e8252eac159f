# kernelswarm-test: device=cuda problem=relu_big verdict=rejected check=protocol static=off
# Hands over a pipe where its device outputs' descriptor should be: the evaluator takes the
# descriptor from the worker's process and refuses anything that is not the driver's character
# device before a clean worker sees it (a pipe could block a reader, a file could be anything).
import importlib

import torch
import torch.nn as nn

_devmem = importlib.import_module("kernelswarm.evaluate.worker.devmem")
_devfd = importlib.import_module("kernelswarm.evaluate.wire.devfd")
_real = _devmem.export
_kept = []


def _export(outputs):
    block = _real(outputs)
    r, w = __import__("os").pipe()
    _kept.append((block, w))
    return _devfd.DeviceFd(r, block.size, block.entries)


_devmem.export = _export


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        return torch.relu(x)
