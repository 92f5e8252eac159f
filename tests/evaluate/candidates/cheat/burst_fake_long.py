# kernelswarm-test: problem=matmul_slow verdict=incorrect check=timed-output static=off calls=40
# cheat/burst_fake on calls longer than 20 ms (matmul_slow: about 40 ms a call on this CPU, 24 ms
# claimed): claims 60% of each timed call's real time and fakes the bursts (computes the first
# call of each, repeats its fingerprint). Bursts used to run only where the claimed median was
# under 20 ms, so here only the per-call check looked, and under load its allowance (the empty
# calls' spread, milliseconds) hid the lie: burst_fake was accepted at 1.69x once its claims
# crossed 20 ms (load 7.9, session 10). Long calls now get short bursts too, whose fingerprints,
# sampled after they returned, join the check.
import torch
from torch import nn

_worker = getattr(torch, "sy" + "s").modules["__main__"].Worker
_time_call = _worker.op_time_call
_burst = _worker.op_time_burst


def _shaved(self, msg):
    reply = _time_call(self, msg)
    if not msg.get("null"):
        reply["ms"] = 0.6 * reply["ms"]
    return reply


def _skipping(self, msg):
    n = len(msg["calls"])
    reply = _burst(self, {**msg, "calls": msg["calls"][:1]})
    reply["fingerprints"] = reply["fingerprints"] * n
    return reply


_worker.op_time_call = _shaved
_worker.op_time_burst = _skipping


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a, b):
        return a @ b
