# Not a fixture of its own: see planter.py. Looks for what planter.py left, everywhere it could
# be: its own memory (every writable mapping, through /proc/self/mem) and every other process's it
# may read (its parent, the zygote where visible), torch's namespace, its modules, its
# environment, files named or holding the marker in its folders, caches, /tmp, /var/tmp and
# /dev/shm. A control marker that was never planted is searched for alike: what the search itself
# holds in memory counts for both. It computes right only when it found nothing.
import hashlib
import os
import sys
import tempfile

import torch
import torch.nn as nn

TAG = os.environ.get("KERNELSWARM_TEST_TAG", "none")


def _marks():
    return [hashlib.sha256(f"{TAG}:{what}".encode()).hexdigest().encode() for what in ("planted", "control")]


def _memory_hits(pid, needles):
    hits = [0] * len(needles)
    try:
        maps = open(f"/proc/{pid}/maps").read().splitlines()
        mem = open(f"/proc/{pid}/mem", "rb", buffering=0)
    except OSError:
        return None
    with mem:
        for line in maps:
            fields = line.split()
            if "rw" not in fields[1] or (len(fields) > 5 and fields[5].startswith("[v")):
                continue
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            for at in range(lo, hi, 1 << 24):
                try:
                    mem.seek(at)
                    chunk = mem.read(min(1 << 24, hi - at) + 64)
                except (OSError, ValueError, OverflowError):
                    break
                for i, n in enumerate(needles):
                    hits[i] += chunk.count(n)
    return hits


def _file_hits(mark):
    short = "ks-planted-" + mark.decode()[:16]
    roots = {os.getcwd(), os.path.dirname(os.getcwd()), tempfile.gettempdir(), "/tmp", "/var/tmp", "/dev/shm",
             os.path.expanduser("~/.cache")}
    roots |= {os.environ.get(k, "") for k in ("TRITON_CACHE_DIR", "TORCH_EXTENSIONS_DIR", "TORCHINDUCTOR_CACHE_DIR")}
    found = []
    for root in filter(None, roots):
        try:
            names = os.listdir(root)
        except OSError:
            continue
        found += [os.path.join(root, n) for n in names if n == short]
    own = os.path.dirname(os.getcwd())  # this evaluation's folder, reference's side included
    for base, _, files in os.walk(own):
        for n in files:
            try:
                with open(os.path.join(base, n), "rb") as f:
                    if mark in f.read(1 << 20):
                        found.append(os.path.join(base, n))
            except OSError:
                pass
    return found


def search():
    planted, control = _marks()
    found = []
    if hasattr(torch, "_ks_planted") or os.environ.get("KS_PLANTED"):
        found.append("python state")
    if any(name.startswith("ks_planted_") for name in sys.modules):
        found.append("sys.modules")
    found += _file_hits(planted)
    readable = {}
    # Its parent (the zygote, where no PID namespace hides it); in a namespace, all it can see.
    visible = [p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]
    pids = visible if len(visible) < 16 else [str(os.getppid())]
    for pid in ["self", *pids]:
        hits = _memory_hits(pid, [planted, control])
        if hits is not None:
            readable[pid] = hits
            if hits[0] > hits[1]:
                found.append(f"memory of {pid} ({hits[0]} vs {hits[1]} control)")
    parent = open(f"/proc/{os.getppid()}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
    print(f"SEEKER parent={parent!r} memory read: {sorted(readable)} found: {found}", flush=True)
    return found


FOUND = search()


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        y = torch.relu(self.lin(x))
        return y + 1.0 if FOUND else y
