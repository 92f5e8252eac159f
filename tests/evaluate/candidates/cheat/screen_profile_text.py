# kernelswarm-test: problem=matmul verdict=rejected check=static
# kernelswarm-test: problem=matmul verdict=incorrect check=timed-output static=off calls=40 min_timing=30
# A screen gap (issue 14.6): the standard library's profilers and debuggers run statements given
# as text (`cProfile.run`, `profile.run`, `trace`, `pdb.run`, `doctest`), beside `timeit` and
# `runpy`, which the screen banned. Its real code is a string the screen reads as a native
# source only (no banned native call in it), run by cProfile.run: batch_and_skip's cheat (honest
# in the trials and the first timed calls, then the previous output returned without computing),
# reaching the worker through `sys` (it runs in `__main__`'s namespace: the worker's). What holds it is every timed output's projections.
import cProfile

import torch
import torch.nn as nn

_CODE = """
import sys
import torch

_worker = sys.modules["__main__"].Worker
_real = _worker.op_time_call
_n = [0]


def _time_call(self, msg):
    if not msg.get("null"):
        _n[0] += 1
    return _real(self, msg)


_worker.op_time_call = _time_call
torch.adv17_timed = _n
"""
cProfile.run(_CODE)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()
        self.last = None

    def forward(self, a, b):
        if torch.adv17_timed[0] > 12 and self.last is not None:
            return self.last.clone()
        self.last = a @ b
        return self.last
