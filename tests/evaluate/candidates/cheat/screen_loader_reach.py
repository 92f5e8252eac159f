# kernelswarm-test: problem=matmul verdict=rejected check=static
# kernelswarm-test: problem=matmul verdict=rejected|accepted static=off max_speedup=1.4 calls=200
# A screen gap (issue 14.6): every module's `__loader__` is an importer, and a built-in module's
# (itertools') is the one that makes `sys` and `gc`: `itertools.__loader__.load_module("sys")`
# imports by a name the screen never reads as an import. Through it, the worker's backend class,
# whose timer is swapped for one that claims half of each call (cheat/swapped_timer). The
# parent's clock charges the lie; the screen now bans importers reached as attributes.
import itertools

import torch
import torch.nn as nn

_mods = itertools.__loader__.load_module("sys").modules
_c = _mods["kernelswarm.backends.cpu"].CpuBackend
_orig = _c.time_call


def _half(self, fn):
    ms, result = _orig(self, fn)
    return 0.5 * ms, result


_c.time_call = _half


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a, b):
        return a @ b
