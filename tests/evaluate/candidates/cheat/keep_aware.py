# kernelswarm-test: problem=matmul verdict=accepted|rejected|incorrect static=off max_speedup=1.4 calls=40 min_timing=30
# Learns which timed calls are checked in full, and when: the worker's `prepare` carries
# `keep_slot` when the previous call was drawn for the full check. After the first dozen timed
# calls it returns the last output it computed (nothing done in the call), and in the next
# `prepare`, before the worker projects and keeps the previous output, computes the true product
# from the inputs it saved and swaps it in: the projections and the kept copy are then right.
# The work moved into `prepare` is in the wall time the parent charges (issue 14.1 by the back door).
import torch
import torch.nn as nn

_worker = getattr(torch, "sy" + "s").modules["__main__"].Worker
_real_call, _real_prepare = _worker.op_time_call, _worker.op_prepare
_state = {"timed": 0, "last": None, "args": None}


def _time_call(self, msg):
    if not msg.get("null"):
        _state["timed"] += 1
    return _real_call(self, msg)


def _prepare(self, msg):
    if _state["args"] is not None and _state["timed"] > 12:
        a, b = _state["args"]
        self.last_outputs = [a @ b]  # the skipped work, done before the projection and the keep
    _state["args"] = None
    return _real_prepare(self, msg)


_worker.op_time_call, _worker.op_prepare = _time_call, _prepare


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a, b):
        if _state["timed"] > 12 and _state["last"] is not None and _state["last"].shape == (a.shape[0], b.shape[1]):
            _state["args"] = (a.clone(), b.clone())
            return _state["last"]
        out = a @ b
        _state["last"] = out
        return out
