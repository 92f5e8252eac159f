# kernelswarm-test: problem=relu_linear verdict=accepted|rejected static=off forks
# Leaves a process (in a process group of its own) whose main thread exits (pthread_exit) while another thread of it spins: /proc
# shows it as a zombie, and a clean-up that skips zombies (as kill_session once did) or a stop
# that waits for every live process misses it. It must not outlive the evaluation, with a PID
# namespace or, in test_contain.py, without one; its spinning may get the candidate charged.
import ctypes
import os
import threading
import time

import torch
import torch.nn as nn

_started = []


def _leave_a_zombie_leader():
    if os.fork() == 0:
        try:
            os.setpgid(0, 0)  # out of the worker's process group too: a group kill misses it
            threading.Thread(target=lambda: [None for _ in iter(int, 1)]).start()
            time.sleep(0.05)
            ctypes.CDLL(None).pthread_exit(None)
        finally:
            os._exit(0)


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        if not _started:
            _started.append(1)
            _leave_a_zombie_leader()
        return torch.relu(self.lin(x))
