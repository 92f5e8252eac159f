# kernelswarm-test: problem=matmul verdict=incorrect check=timed-output static=off calls=40
# Moves each timed call's work into the next request, before the evaluator looks at its outputs.
# A timed call returns an empty tensor at once (the call the worker times, and the only one whose
# claim it reports); its worker's `prepare`, reached through module attributes the static screen
# does not see, is wrapped so that it first computes the product into that tensor, in place, and
# only then does what it must: project the last call's outputs on vectors whose seed arrives
# only now (they are right), keep them if the sample wants them (they are right), draw the next
# inputs. The work is no longer in any claimed time (it would be in the parent's wall clock around
# the `prepare`, charged beside the reference's own). Caught before that: the magnitude sums its
# worker reports on return are of the empty tensor, and the clean worker finds them unlike the
# outputs it recomputes (`timed-output`: outputs changed after the call returned). Forging those
# sums needs the outputs' magnitudes, that is the product (cheat/projection_forge tried the rest).
import torch
from torch import nn

_base = getattr(torch, "sy" + "s").modules["kernelswarm.evaluate.worker.base"]
_pending = []  # (a, b, out) of the last timed call, computed at the next prepare
_timed = [False]

_prepare, _time_call = _base.Worker.op_prepare, _base.Worker.op_time_call


def _op_prepare(self, msg):
    while _pending:
        a, b, out = _pending.pop()
        torch.matmul(a, b, out=out)
    return _prepare(self, msg)


def _op_time_call(self, msg):
    _timed[0] = True
    try:
        return _time_call(self, msg)
    finally:
        _timed[0] = False


_base.Worker.op_prepare, _base.Worker.op_time_call = _op_prepare, _op_time_call


class ModelNew(nn.Module):
    def forward(self, a, b):
        if not _timed[0]:
            return a @ b
        out = torch.empty(a.shape[0], b.shape[1], dtype=a.dtype)
        _pending.append((a, b, out))
        return out
