# kernelswarm-test: problem=matmul verdict=rejected|accepted static=off max_speedup=1.4 calls=200
# Works in the moment between being continued and being asked: the worker is stopped while the
# clean worker flushes before each timed call, and continued (SIGCONT to its whole session, then a
# scan of /proc for the session's other members: milliseconds on a busy host) before the parent
# sends `time_call` and starts its clock. A SIGCONT handler, run in the main thread as soon as
# the process runs again, computes the product for the inputs already prepared (found through
# the worker object, reached via gc) and keeps it; the timed call returns that copy at once. Its
# outputs are correct and its claimed times true; only the work ran before any clock did.
# Rejected by the burst bound (its claims are short); and the head start itself is gone:
# signal_session now finds every member while all are stopped and continues them at once
# (test_session_signals.py: a handler ran 0.2 ms into a 300 ms scan before, after it now).
import gc
import signal

import torch
import torch.nn as nn

_done = {}


def _worker():
    main = getattr(torch, "sys").modules["__main__"]
    cls = getattr(main, "Worker", None)
    if cls is None:
        return None
    for obj in gc.get_objects():
        if isinstance(obj, cls):
            return obj
    return None


def _on_cont(signum, frame):
    w = _worker()
    prepared = getattr(w, "prepared", None) if w is not None else None
    if prepared and len(prepared) == 2 and all(isinstance(t, torch.Tensor) for t in prepared):
        a, b = prepared
        _done["key"] = (a.data_ptr(), b.data_ptr())
        _done["out"] = a @ b


signal.signal(signal.SIGCONT, _on_cont)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a, b):
        if _done.get("key") == (a.data_ptr(), b.data_ptr()):
            _done.pop("key")
            return _done.pop("out")
        return a @ b
