# kernelswarm-test: problem=relu_linear verdict=incorrect static=off
# Sends its outputs with a header nested too deep for the reader: the outputs travel to the clean
# reference worker laid out raw (worker/rawblob.py), a JSON header first; this worker's `to_blob`,
# reached through module attributes the static screen does not see, is replaced by one whose
# header is a list nested 300,000 deep (600 KB, under the header's 1 MB cap). Python's JSON
# decoder raises RecursionError there, which is not a ValueError. Held (adv17): the clean worker
# reads outputs inside a catch-all, and outputs it cannot read are wrong outputs.
import struct

import torch
from torch import nn

_mods = getattr(torch, "sy" + "s").modules
_tensors = _mods["kernelswarm.evaluate.worker.tensors"]
_raw = _mods["kernelswarm.evaluate.worker.rawblob"]
DEPTH = 300_000


def _to_blob(outputs):
    header = b"[" * DEPTH + b"]" * DEPTH
    return struct.pack("<8sQ", _raw.MAGIC, len(header)) + header + bytes(64)


_tensors.to_blob = _to_blob


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        return torch.relu(self.lin(x))
