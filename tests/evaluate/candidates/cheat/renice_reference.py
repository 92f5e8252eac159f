# kernelswarm-test: problem=matmul verdict=rejected|accepted static=off max_speedup=1.4 calls=60
# Slows the reference down instead of speeding itself up: any process may lower the priority of
# another process of its own user (setpriority to nice 19, SCHED_IDLE), without a capability, and
# set its CPU affinity. Without a PID namespace the candidate sees its evaluation's other workers:
# the clean worker that times the reference and the flush worker, forked by the same zygote (or
# started by the same evaluator), its siblings. On a busy machine a reference at nice 19 gets a
# sliver of the cores. Only its siblings, never any other process of the machine. As root the
# kernel refused it already (a process may not renice one with more capabilities than its own,
# and the candidate's dropped all); as another user it worked (test_confine: nice 19, SCHED_IDLE,
# affinity and limits of a same-user process). confine.py now refuses those calls on any process
# but the caller itself: the reference keeps its priority and this is timed as the copy it is.
import os

import torch.nn as nn


def _siblings():
    mine = os.getpid()
    try:
        parent = os.getppid()
    except OSError:
        return []
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != mine:
            try:
                with open(f"/proc/{name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent:
                found.append(int(name))
    return found


def _slow_down():
    slowed = []
    for pid in _siblings():
        try:
            os.setpriority(os.PRIO_PROCESS, pid, 19)
            slowed.append(pid)
        except OSError:
            pass
        try:
            os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))
        except (OSError, AttributeError):
            pass
    return slowed


_slowed = _slow_down()


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()
        _slow_down()  # workers started after the import too

    def forward(self, a, b):
        return a @ b
