# kernelswarm-test: problem=matmul_tanh verdict=accepted static=off max_speedup=1.5 calls=200
# Computes honestly and claims 60% of each call's real time, a lie small enough to pass for noise
# if the harness only rejected gross ones. The parent's wall clock charges it the time it used,
# less the noise allowance (on a CPU's noisy per-call overhead, up to about a fifth of the call;
# on a GPU about 0.2 ms, which alone would let this lie stand on a 0.15 ms call), and bursts of
# calls, timed by the parent alone, bound each call at 85% of what it took there:
# the lie earns it far less than the 1.67x it claims over the reference, which it computes with
# the same operations. By design a lie within the checks' allowances stands (the relative bound's
# a fifth of the reference's call plus its rounds' spread: 1.25x and noise), so the bound here is
# 1.5x: 1.4 failed at 1.41x [1.35, 1.47] in a fresh clone's suite at load ~1 (session 9).
import torch
import torch.nn as nn

_worker = getattr(torch, "sy" + "s").modules["__main__"].Worker
_real = _worker.op_time_call


def _time_call(self, msg):
    reply = _real(self, msg)
    if not msg.get("null"):
        reply["ms"] = 0.6 * reply["ms"]
    return reply


_worker.op_time_call = _time_call


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a, b):
        return torch.tanh(a @ b)
