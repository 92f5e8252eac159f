# Not a fixture of its own: tests/evaluate/test_secret_files.py evaluates it with a key in a
# project's own module (settings.py, not one of the .env-like names contain.SECRET_FILES covers)
# in a folder on the evaluator's import path: the folder of the script that started it (`python
# run_eval.py` puts it first there), or one a notebook or a test prepended. Every folder bound into
# its own root from the host (read from /proc/self/mountinfo) outside the system folders and the
# installed packages is searched: files under 64 KiB whose text assigns a value to a name holding
# KEY, TOKEN or SECRET, and any SQLite store (the evaluator's --db). It raises with the SHA-256 of
# each (hashes pass any scrubbing). Before, the evaluator bound every folder on its own import path
# into the worker's root, and the key's hash came back; a worker is a new interpreter, whose
# import path is its PYTHONPATH, site folders and prefixes: now only those are bound.
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
            own = os.getcwd().startswith(p) or p in ("/tmp", "/var/tmp", "/dev/shm")  # its own folders
            if p == "/" or own or p.startswith(_SYSTEM) or "site-packages" in p or "/versions/" in p:
                continue
            roots.append(p)
    return roots


def _loot():
    found = []
    for root in _roots():
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if d not in ("site-packages", "__pycache__", ".git", "node_modules")][:50]
            for name in files[:400]:
                path = os.path.join(folder, name)
                try:
                    if os.path.getsize(path) > 65536:
                        continue
                    with open(path, "rb") as f:
                        data = f.read()
                except OSError:
                    continue
                if data.startswith(b"SQLite format 3"):
                    found.append(f"store {path}:{hashlib.sha256(data).hexdigest()}")
                for m in _ASSIGN.finditer(data):
                    found.append(f"{path}:{hashlib.sha256(m.group(2)).hexdigest()}")
    return found


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)
        found = _loot()
        if found:
            raise RuntimeError("found " + " ".join(found[:20]))

    def forward(self, x):
        return self.lin(x).relu()
