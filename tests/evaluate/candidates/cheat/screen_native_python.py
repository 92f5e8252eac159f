# kernelswarm-test: problem=matmul verdict=rejected check=static
# kernelswarm-test: problem=matmul verdict=rejected|accepted static=off max_speedup=1.4 calls=200 slow timeout=600
# A screen gap (issue 14.6): native source may reach Python itself. Its C++ extension (built with
# load_inline, which the screen allows) imports `sys` through pybind11 and hands the module back;
# no Python line names it, and the native text screen looked only for process, thread and /proc
# calls. Through it, the worker's backend class, whose timer is swapped for one that claims half
# of each call (cheat/swapped_timer). The parent's clock charges the lie; the screen now bans
# Python's own import, run and eval calls in native source.
import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

_SRC = """
#include <torch/extension.h>
pybind11::object interp() { return pybind11::module_::import("sys"); }
"""
_ext = load_inline("adv17_native_python", cpp_sources=_SRC, functions=["interp"], verbose=False)
_mods = _ext.interp().modules
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
