# kernelswarm-test: device=cuda problem=relu_big verdict=incorrect check=correctness static=off
# Hands over a fresh descriptor of the driver's control file: a character device, as a real export
# is, so it passes the evaluator's own check; the driver refuses to import it in the clean worker,
# whose context must survive that: its outputs are unreadable, incorrect.
import importlib
import os

import torch
import torch.nn as nn

_devmem = importlib.import_module("kernelswarm.evaluate.worker.devmem")
_devfd = importlib.import_module("kernelswarm.evaluate.wire.devfd")
_real = _devmem.export
_kept = []


def _export(outputs):
    block = _real(outputs)
    _kept.append(block)
    return _devfd.DeviceFd(os.open("/dev/nvidiactl", os.O_RDWR), block.size, block.entries)


_devmem.export = _export


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        return torch.relu(x)
