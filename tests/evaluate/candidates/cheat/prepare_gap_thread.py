# kernelswarm-test: problem=matmul verdict=rejected|accepted static=off max_speedup=1.4 calls=200
# Works in the moment between its `prepare`'s reply and the stop that follows it. Its worker's
# `prepare` (reached through module attributes the static screen does not see) is wrapped: once
# the inputs of the next timed call are drawn, a thread starts computing their product, and the
# reply goes out at once. The parent reads the reply, stops the worker's whole session, has the
# clean worker flush, and only then starts its clock and continues the worker: whatever the thread
# computed before the stop was in no request's wall time, and it goes on computing on the second
# core while the main thread waits in the timed call (one thread, started at import, waits for work). The thread's code is compiled under a file
# name that is not the candidate's, so no frame of the candidate's file runs in it (the worker's
# Python-thread check looks for those), as a thread of a C++ extension or ctypes would not.
import queue
import threading

import torch
from torch import nn

_base = getattr(torch, "sy" + "s").modules["kernelswarm.evaluate.worker.base"]
_prepare = _base.Worker.op_prepare
_ahead = {}

_jobs = queue.SimpleQueue()
_ns = {"torch": torch}
# One thread for the whole evaluation, waiting for work: no start-up cost in any call. It computes
# the first rows of the product, which is what fits in the gap; the call itself does the rest.
exec(compile("def work(jobs):\n    while True:\n        a, b, out, rows, done = jobs.get()\n"
             "        torch.matmul(a[:rows], b, out=out[:rows])\n        done.set()\n",
             "<torch/_tensor_ops>", "exec"), _ns)
threading.Thread(target=_ns["work"], args=(_jobs,), daemon=True).start()
SHARE = 0.5


def _op_prepare(self, msg):
    reply = _prepare(self, msg)
    p = self.prepared
    if len(p) == 2 and getattr(self, "candidate", None) is not None:
        a, b = p
        out, done, rows = torch.empty(a.shape[0], b.shape[1]), threading.Event(), int(SHARE * a.shape[0])
        _ahead.clear()
        _ahead[(a.data_ptr(), b.data_ptr())] = (out, rows, done)
        _jobs.put((a, b, out, rows, done))
    return reply


_base.Worker.op_prepare = _op_prepare


class ModelNew(nn.Module):
    def forward(self, a, b):
        got = _ahead.pop((a.data_ptr(), b.data_ptr()), None)
        if got is None:
            return a @ b
        out, rows, done = got
        torch.matmul(a[rows:], b, out=out[rows:])
        done.wait()
        return out
