# kernelswarm-test: problem=matmul_slow verdict=accepted|rejected static=off max_speedup=1.3 calls=40
# cheat/reply_shave on calls longer than 20 ms: computes honestly (bursts included) and claims 60%
# of each timed call's real time, 1.67x over the reference it copies. With calls this long no
# bursts used to run, and under load the per-call check's allowance (the empty calls' spread)
# covered most of the lie. The bursts, now run for calls of any length beside the reference's of
# the same round, bound each call at 85% of what it took there, and the relative bound at the
# reference's time less a fifth: at most about 1.25x, and noise.
import torch
from torch import nn

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
        return a @ b
