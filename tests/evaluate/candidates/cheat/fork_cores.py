# kernelswarm-test: problem=matmul_slow verdict=rejected|accepted static=off max_speedup=1.3 calls=30
# extra_cores through processes instead of threads: both workers are given one thread, and a CPU
# timing holds for that count only. Each call forks a child that computes half of the product
# into memory the two share (an anonymous shared mapping made at import), computes the other half
# itself, and waits for the child, which has exited by the time the call returns: nothing is left
# for the `forks` check, and a reaped child's CPU time is no longer in any live process's CPU
# clock, where the CPU-time check (cputime.py) read the worker's work (extra_cores' charge).
# Charged now: the CPU time of children the worker's processes reaped counts as theirs.
import mmap
import os

import torch
from torch import nn

_M, _N = 1024, 1024
_shared = mmap.mmap(-1, _M * _N * 4)  # MAP_SHARED | MAP_ANONYMOUS: the child's writes reach us
_out = torch.frombuffer(_shared, dtype=torch.float32).view(_M, _N)


class ModelNew(nn.Module):
    def forward(self, a, b):
        half = a.shape[0] // 2
        pid = os.fork()
        if pid == 0:
            try:
                torch.matmul(a[:half], b, out=_out[:half])
            finally:
                os._exit(0)
        torch.matmul(a[half:], b, out=_out[half:])
        os.waitpid(pid, 0)
        return _out.clone()
