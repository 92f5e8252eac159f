# kernelswarm-test: problem=relu_linear verdict=accepted|rejected static=off forks
# kernelswarm-test: problem=relu_linear verdict=rejected check=static forks
# kernelswarm-test: device=cuda problem=relu_linear verdict=accepted|rejected static=off forks
# Starts processes that try to outlive the evaluation (posix_spawn with setsid, Popen with a new
# session, setsid -f, a double fork with setsid) and writes files to /dev/shm, /tmp and /var/tmp,
# named after the test's tag: none of it may outlive the evaluation (issue 14.4). Its spinning
# children may get it charged by the wall clock; either verdict is fine.
import hashlib
import os
import re
import subprocess
import sys

import torch
import torch.nn as nn

import time

TAG = os.environ.get("KERNELSWARM_TEST_TAG", "none")
HANG = False
_started = []


def _escape():
    env = dict(os.environ)
    spin = [sys.executable, "-c", "import time\nwhile True: time.sleep(0.05)"]
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
            with open(f"{folder}/ks-escape-{TAG}", "wb") as f:
                f.write(b"x" * (8 << 20))
        except OSError:
            pass


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        if not _started:
            _started.append(1)
            _escape()
        while HANG:
            time.sleep(1)
        return torch.relu(self.lin(x))
