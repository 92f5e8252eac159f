# kernelswarm-test: problem=matmul verdict=incorrect check=timed-output static=off calls=40 min_timing=60
# kernelswarm-test: device=cuda problem=matmul_big verdict=incorrect check=timed-output static=off
# Honest in the correctness trials and the first timed calls, then serves the output it cached
# for the same base input (recognised by the signs of a few elements, which the per-call
# perturbation keeps) rescaled by how much the inputs' magnitudes moved: the magnitude sums match
# the fresh output's to about 1e-6. Random projections of the output do not.
import torch
import torch.nn as nn

_worker = getattr(torch, "sy" + "s").modules["__main__"].Worker
_real = _worker.op_time_call
_timed = [0]
_cache = {}


def _time_call(self, msg):
    if not msg.get("null"):
        _timed[0] += 1
    return _real(self, msg)


_worker.op_time_call = _time_call


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a, b):
        key = tuple((a.reshape(-1)[:48] > 0).tolist())
        if _timed[0] > 12 and key in _cache:
            out, na, nb = _cache[key]
            return out * ((a.abs().sum() / na) * (b.abs().sum() / nb))
        out = a @ b
        _cache[key] = (out, a.abs().sum(), b.abs().sum())
        return out
