# kernelswarm-test: problem=relu_linear verdict=rejected check=static
# kernelswarm-test: problem=relu_linear verdict=accepted|rejected static=off max_speedup=1.4
# Imports by a computed name through the standard library's name resolvers (pkgutil.resolve_name,
# pydoc.locate), which the screen did not list, then walks the garbage collector for the worker's
# timing backend and makes its timer claim half of each call (issue 14.2 reached by another road
# than module attributes). The parent times every call on its own clock: the lie is charged.
import pkgutil
import pydoc

import torch
import torch.nn as nn

_gc = pkgutil.resolve_name("g" + "c")
_time = pydoc.locate("ti" + "me")


def _halve(backend):
    real = type(backend).time_call

    def time_call(fn, *a, **k):
        ms, out = real(backend, fn, *a, **k)
        return ms * 0.5, out
    backend.time_call = time_call


for _o in _gc.get_objects():
    try:
        if type(_o).__name__.endswith("Backend") and hasattr(_o, "time_call") and hasattr(_o, "flush_cache"):
            _halve(_o)
    except Exception:
        pass


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        return torch.relu(self.lin(x))
