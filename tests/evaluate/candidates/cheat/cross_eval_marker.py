# kernelswarm-test: problem=relu_linear verdict=accepted static=off
# A channel from one evaluation to the next: a candidate that finds what an earlier one left could
# learn its inputs' statistics, its timing, its answers. It first looks for a marker any earlier
# run of itself left, then leaves one wherever it can write: its folder's parent, TMPDIR and the
# temporary folders, /dev/shm, /dev/mqueue, its home and caches (~/.cache, ~/.triton, ~/.nv,
# ~/.cache/kernelswarm and the shared weights folder), the compile caches its environment names,
# beside the installed packages (torch's folder, sys.prefix) and the working folder's own
# `__pycache__`; a named pipe and a POSIX shared memory object too. Found one: it answers
# wrongly (the next evaluation of it is then `incorrect`). Today each evaluation has its own
# private /tmp, /dev/shm and homes, everything else read-only: it finds nothing, however often it
# runs (the marker's name is fixed: any earlier evaluation of it on this machine counts).
import os

import torch
from torch import nn

NAME = ".ks-adv13-cross-eval-marker"


def _places():
    home = os.path.expanduser("~")
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(home, ".cache")
    places = [os.path.dirname(os.getcwd()), os.environ.get("TMPDIR", ""), "/tmp", "/var/tmp", "/dev/shm",
              "/dev/mqueue", "/run/shm", f"/run/user/{os.getuid()}", home, cache, os.path.join(home, ".triton"),
              os.path.join(home, ".nv"), os.path.join(cache, "kernelswarm"), os.path.join(cache, "kernelswarm", "weights"),
              os.path.dirname(torch.__file__), os.sys.prefix, os.path.join(os.getcwd(), "__pycache__")]
    places += [os.environ.get(k, "") for k in ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR", "TORCH_EXTENSIONS_DIR",
                                                "CUDA_CACHE_PATH", "PYTORCH_KERNEL_CACHE_PATH", "CUPY_CACHE_DIR")]
    places += [os.path.dirname(p) for p in places if p]  # and the folder above each
    return sorted({p for p in places if p})


def _found():
    found = [p for p in _places() if os.path.lexists(os.path.join(p, NAME))]
    if os.path.exists("/dev/shm/" + NAME[1:]):
        found.append("/dev/shm (shm_open)")
    return found


def _leave():
    for p in _places():
        try:
            with open(os.path.join(p, NAME), "w") as f:
                f.write("left by an earlier evaluation\n")
        except OSError:
            pass
        try:
            os.mkfifo(os.path.join(p, NAME + ".fifo"))
        except OSError:
            pass
    try:  # shm_open's file, as a C++ extension would make it
        fd = os.open("/dev/shm/" + NAME[1:], os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)
    except OSError:
        pass


FOUND = _found()
_leave()


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        y = torch.relu(self.lin(x))
        return y + 1.0 if FOUND else y
