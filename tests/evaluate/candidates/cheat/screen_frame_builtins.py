# kernelswarm-test: problem=matmul verdict=rejected check=static
# kernelswarm-test: problem=matmul verdict=rejected|accepted static=off max_speedup=1.4 calls=200
# A screen gap (issue 14.6): frame objects without `sys._getframe`, `inspect` or `tb_frame`.
# traceback.walk_stack yields the caller's frames, and a frame's `f_builtins` (which the screen did
# not list beside f_globals and f_locals) is the builtins' namespace, whose `__import__` the screen
# cannot see when it is read by a string key. Through it `sys`, the worker's backend class, and a
# timer swapped for one that claims half of each call (cheat/swapped_timer): the parent's clock
# charges the lie. The screen now bans f_builtins and the standard library's frame walkers.
import traceback

import torch
import torch.nn as nn

_frame = next(traceback.walk_stack(None))[0]
_mods = _frame.f_builtins["__import__"]("s" + "ys").modules
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
