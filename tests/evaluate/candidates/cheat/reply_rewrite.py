# kernelswarm-test: problem=matmul_tanh verdict=rejected check=static
# kernelswarm-test: problem=matmul_tanh verdict=rejected check=wall-clock static=off calls=200
# kernelswarm-test: device=cuda problem=matmul_tanh verdict=rejected|accepted static=off max_speedup=1.3
# On the GPU a call of matmul_tanh is shorter than the per-call check's noise allowance, so the lie is
# charged back rather than rejected: measured on the H200 (session 10) accepted at 0.95x [0.91, 0.99].
# Computes honestly, then rewrites what its worker process reports: each timed call claims a quarter
# of its real time (a speedup the speed-of-light floor would still allow). Calls of an empty
# function (the harness's calibration of its own overhead) are made slower by the difference, so
# that the time the parent saw but the candidate did not claim looks like overhead. It reaches the worker
# without importing `sys` or naming `.sys` (the screen resolves `getattr(torch, "sy" + "s")` since issue 14.6).
import select

import torch
import torch.nn as nn

_worker = getattr(torch, "sy" + "s").modules["__main__"].Worker
_real = _worker.op_time_call
_lag = [0.0]


def _time_call(self, msg):
    reply = _real(self, msg)
    if msg.get("null"):
        select.select([], [], [], _lag[0] / 1000.0)
    else:
        _lag[0] = 0.75 * reply["ms"]
        reply["ms"] = 0.25 * reply["ms"]
    return reply


_worker.op_time_call = _time_call


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a, b):
        return torch.tanh(a @ b)
