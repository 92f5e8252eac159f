# kernelswarm-test: problem=matmul verdict=rejected check=static
# kernelswarm-test: problem=matmul verdict=incorrect check=timed-output static=off calls=40 min_timing=30
# A screen gap (issue 14.6): Python code the screen never reads. The candidate writes its real
# code as text into a `hubconf.py` in its own folder (where it may write) and runs it with
# torch.hub.load(folder, ..., source="local"), a public loader of local code; the text holds
# `import sys` and the worker's own objects, which no screened line names. The payload is
# batch_and_skip's: honest in the trials and the first timed calls, then the previous output
# returned without computing. What holds it is every timed output's projections.
import os
import tempfile

import torch

_PAYLOAD = '''
import sys
import torch
import torch.nn as nn

_worker = sys.modules["__main__"].Worker
_real = _worker.op_time_call
_n = [0]


def _time_call(self, msg):
    if not msg.get("null"):
        _n[0] += 1
    return _real(self, msg)


_worker.op_time_call = _time_call


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()
        self.last = None

    def forward(self, a, b):
        if _n[0] > 12 and self.last is not None and self.last.shape == (a.shape[0], b.shape[1]):
            return self.last.clone()
        self.last = a @ b
        return self.last


def model():
    return ModelNew
'''

_folder = tempfile.mkdtemp(prefix="hub")
with open(os.path.join(_folder, "hubconf.py"), "w") as f:
    f.write(_PAYLOAD)
ModelNew = torch.hub.load(_folder, "model", source="local", trust_repo=True)
