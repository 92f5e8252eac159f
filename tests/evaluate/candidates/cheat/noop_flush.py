# kernelswarm-test: problem=matmul verdict=rejected|accepted static=off max_speedup=1.4 calls=200
# kernelswarm-test: device=cuda problem=matmul_big verdict=rejected|accepted static=off max_speedup=1.4
# Reaches the worker's backend through a module attribute (not an import the screen sees),
# replaces its cache flush with a no-op, and claims each call's time less what its own flush
# took: the time the skipped flush saved used to pass for the calibrated overhead, the caches
# stayed warm, and it was accepted at 1.9x. The flush before a timed call is now the clean
# worker's, with this process stopped, and this one flushes nothing of its own on a CPU: the
# no-op changes nothing, and the under-claim is charged by the wall clock (or rejected).
import time as _t

import torch
import torch.nn as nn

_mods = getattr(torch, "sy" + "s").modules
_backends = [getattr(_mods.get(f"kernelswarm.backends.{n}"), c, None) for n, c in (("cpu", "CpuBackend"), ("cuda", "CudaBackend"))]
_worker = _mods["__main__"].Worker
_real = _worker.op_time_call
_flush_ms = [0.0]


def _measure_flush(backend_cls):
    buf = torch.zeros(16 * 1024 * 1024)
    start = _t.perf_counter()
    buf.add_(1.0)
    return 1000.0 * (_t.perf_counter() - start)


for cls in _backends:
    if cls is not None:
        _flush_ms[0] = _measure_flush(cls)
        cls.flush_cache = lambda self: None


def _time_call(self, msg):
    reply = _real(self, msg)
    if not msg.get("null"):
        reply["ms"] = max(reply["ms"] - _flush_ms[0], 0.3 * reply["ms"])
    return reply


_worker.op_time_call = _time_call


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a, b):
        return a @ b
