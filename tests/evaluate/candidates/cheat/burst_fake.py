# kernelswarm-test: problem=matmul_tanh verdict=incorrect check=timed-output static=off calls=200
# kernelswarm-test: device=cuda problem=matmul_tanh verdict=incorrect check=timed-output static=off
# kernelswarm-test: problem=matmul_tanh verdict=incorrect|timeout static=off calls=100000 min_timing=100000 timeout=90
# Claims 60% of each timed call's real time, and makes the bursts of calls that would expose
# that (the parent times them on its own clock) fast: of each burst it computes only the first
# call and repeats that call's fingerprint for the others. The fingerprints of burst calls chosen
# after the bursts returned are checked against the reference on their own inputs. The third
# scenario times until the time limit (min_timing beyond it): the bursts must still run then, or
# the claims must not stand (before session 12 they were skipped there, and it was accepted).
import torch
import torch.nn as nn

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
        return torch.tanh(a @ b)
