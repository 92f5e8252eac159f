# kernelswarm-test: problem=matmul verdict=incorrect check=timed-output static=off calls=40 min_timing=60
# kernelswarm-test: device=cuda problem=matmul_big verdict=incorrect check=timed-output static=off
# Honest in the correctness trials and the first timed calls (where full checks used to be
# drawn), then computes the float32 product in bfloat16. On a large product the magnitude sums
# that used to check the other calls stay within their tolerance (issue 14: accepted at 7.43x);
# on this small one they already did not. Every timed call's output is now projected on random
# vectors whose seed it learns only after returning, and any call may be kept for a full check.
import torch
import torch.nn as nn

_worker = getattr(torch, "sy" + "s").modules["__main__"].Worker
_real = _worker.op_time_call
_timed = [0]


def _time_call(self, msg):
    if not msg.get("null"):
        _timed[0] += 1
    return _real(self, msg)


_worker.op_time_call = _time_call


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a, b):
        if _timed[0] > 12:
            return (a.bfloat16() @ b.bfloat16()).float()
        return a @ b
