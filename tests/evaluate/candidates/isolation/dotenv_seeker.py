# Not a fixture of its own: tests/evaluate/test_secret_files.py evaluates it with a project's .env
# beside the code. Looks for .env files in every folder above the import path and VIRTUAL_ENV and
# raises with the SHA-256 of what it read: before, the key's hash came back; now each is covered
# by /dev/null in the worker's mount namespace (contain.SECRET_FILES) and reads empty.
import hashlib
import os

import torch
import torch.nn as nn


def _loot():
    found = []
    roots = set()
    for p in (os.environ.get("PYTHONPATH", "") + os.pathsep + os.environ.get("VIRTUAL_ENV", "")).split(os.pathsep):
        p = p.rstrip("/")
        while p and p != "/":
            roots.add(p)
            p = os.path.dirname(p)
    try:  # every folder mounted into its namespace: what was bound back is where the code is
        with open("/proc/self/mountinfo") as f:
            for line in f:
                p = line.split()[4]
                while p and p != "/":
                    roots.add(p)
                    p = os.path.dirname(p)
    except OSError:
        pass
    for r in sorted(roots):
        for name in (".env", ".envrc", "secrets.env"):
            try:
                with open(os.path.join(r, name), "rb") as f:
                    found.append(f"{r}/{name}:{hashlib.sha256(f.read()).hexdigest()[:16]}")
            except OSError:
                pass
    return found


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)
        loot = _loot()
        if loot:
            raise RuntimeError("found " + " ".join(loot))

    def forward(self, x):
        return torch.relu(self.lin(x))
