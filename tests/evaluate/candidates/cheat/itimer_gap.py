# kernelswarm-test: problem=matmul verdict=rejected|accepted static=off max_speedup=1.4 calls=200
# Works while its worker waits for the next request, without a thread: an interval timer
# (ITIMER_REAL, every 50 us) interrupts the worker's blocking read of its channel, and the SIGALRM
# handler, run in the main thread between two reads, computes the product of the inputs `prepare`
# has just drawn (found on the worker object). The parent stops the process only after reading
# `prepare`'s reply: the handler's work there is in no request's wall time, and the timed call
# returns the product at once. The timer is off during the timed call itself (no interruption to
# slow it). Charged by the CPU time its process used beyond its claims (cputime.py).
import signal

import torch
from torch import nn

_base = getattr(torch, "sy" + "s").modules["kernelswarm.evaluate.worker.base"]
_state = {"worker": None, "key": None, "out": None}
_prepare, _time_call = _base.Worker.op_prepare, _base.Worker.op_time_call


def _on_alarm(signum, frame):
    w = _state["worker"]
    p = getattr(w, "prepared", None) if w is not None else None
    if p and len(p) == 2 and _state["key"] != (p[0].data_ptr(), p[1].data_ptr()):
        _state["key"] = (p[0].data_ptr(), p[1].data_ptr())
        _state["out"] = p[0] @ p[1]


def _op_prepare(self, msg):
    _state["worker"] = self
    reply = _prepare(self, msg)
    signal.setitimer(signal.ITIMER_REAL, 5e-5, 5e-5)
    return reply


def _op_time_call(self, msg):
    signal.setitimer(signal.ITIMER_REAL, 0)
    return _time_call(self, msg)


signal.signal(signal.SIGALRM, _on_alarm)
_base.Worker.op_prepare, _base.Worker.op_time_call = _op_prepare, _op_time_call


class ModelNew(nn.Module):
    def forward(self, a, b):
        if _state["key"] == (a.data_ptr(), b.data_ptr()) and _state["out"] is not None:
            _state["key"] = None
            out, _state["out"] = _state["out"], None
            return out
        return a @ b
