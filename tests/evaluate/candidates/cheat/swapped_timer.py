# kernelswarm-test: problem=matmul verdict=rejected|accepted static=off max_speedup=1.4 calls=200
# kernelswarm-test: device=cuda problem=matmul_big verdict=rejected|accepted static=off max_speedup=1.4
# Reaches the worker's backend class through a module attribute and swaps its timer for one that
# measures half of each call (the function whose identity the worker re-checks, time.perf_counter_ns,
# stays the original). Nothing the candidate's process reports about time is believed: the
# parent's wall clock around the requests charges the time it did not claim, or rejects it.
import torch
import torch.nn as nn

_mods = getattr(torch, "sy" + "s").modules
for _name, _cls in (("cpu", "CpuBackend"), ("cuda", "CudaBackend")):
    _c = getattr(_mods.get(f"kernelswarm.backends.{_name}"), _cls, None)
    if _c is not None:
        _orig = _c.time_call

        def _half(self, fn, _orig=_orig):
            ms, result = _orig(self, fn)
            return 0.5 * ms, result

        _c.time_call = _half


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a, b):
        return a @ b
