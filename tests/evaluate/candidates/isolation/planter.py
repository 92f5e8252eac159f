# Not a fixture of its own: tests/evaluate/test_zygote.py evaluates it, then seeker.py, forked from
# the same zygote. A correct ReLU-linear that leaves a marker (derived from the test's tag)
# everywhere it can: its memory (Python objects, torch's namespace, its environment, a native
# buffer), its folder, its temporary folder, its compile caches, its home folder's caches, /tmp,
# /var/tmp and /dev/shm. The next candidate must find none of it.
import ctypes
import hashlib
import os
import sys
import tempfile

import torch
import torch.nn as nn

TAG = os.environ.get("KERNELSWARM_TEST_TAG", "none")
MARK = hashlib.sha256(f"{TAG}:planted".encode()).hexdigest()
_kept = [MARK.encode() * 64, bytearray(MARK.encode() * 64)]
_native = ctypes.create_string_buffer(MARK.encode() * 64)
torch._ks_planted = MARK
sys.modules["ks_planted_" + MARK[:8]] = sys
os.environ["KS_PLANTED"] = MARK
_places = [os.getcwd(), tempfile.gettempdir(), "/tmp", "/var/tmp", "/dev/shm", os.path.expanduser("~/.cache")]
_places += [os.environ.get(k, "") for k in ("TRITON_CACHE_DIR", "TORCH_EXTENSIONS_DIR", "TORCHINDUCTOR_CACHE_DIR")]
written = []
for place in filter(None, _places):
    try:
        os.makedirs(place, exist_ok=True)
        path = os.path.join(place, f"ks-planted-{MARK[:16]}")
        with open(path, "w") as f:
            f.write(MARK)
        written.append(path)
    except OSError:
        pass
print(f"PLANTED {len(written)} files: {written}", flush=True)


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        return torch.relu(self.lin(x))
