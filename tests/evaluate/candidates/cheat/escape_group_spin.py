# kernelswarm-test: problem=matmul_tanh verdict=accepted|rejected static=off forks max_speedup=1.5 calls=200 timeout=480 slow
# An honest matrix product whose children leave the worker's process group (setpgid, which build
# tools need and the seccomp filter allows) and burn every core only while the worker is stopped:
# that is, while the clean worker times the reference and the empty calls. A `stopped()` that
# signals the process group misses them, the reference and the wall-clock allowance are inflated,
# and an honest copy is "faster" (issue 14.4: baselines are never timed while anything of a
# candidate is alive and running). Accepted or rejected, it may not win.
import os
import time

import torch
import torch.nn as nn

_started = []


def _state(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return b"?"


def _spinner(worker):
    try:
        os.setpgid(0, 0)
    except OSError:
        pass
    src, dst = bytearray(8 << 20), bytearray(8 << 20)
    while True:
        state = _state(worker)
        if state == b"?":
            os._exit(0)
        if state in (b"T", b"t"):  # stopped: the clean worker is timing; take the cores and caches
            dst[:] = src
        else:
            time.sleep(0.0002)


def _start():
    worker = os.getpid()
    for _ in range(2 * (os.cpu_count() or 2)):
        if os.fork() == 0:
            try:
                _spinner(worker)
            finally:
                os._exit(0)


class ModelNew(nn.Module):
    def forward(self, a, b):
        if not _started:
            _started.append(1)
            _start()
        return torch.tanh(a @ b)
