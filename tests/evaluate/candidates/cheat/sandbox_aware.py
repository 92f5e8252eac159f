# kernelswarm-test: problem=relu_linear verdict=accepted static=off
# A winner that behaves only where it is judged. Every sign of the evaluator's containment is
# readable from inside it (seccomp in /proc/self/status, no new privileges, the PID namespace
# where it is process 2, a read-only root): contained, it is an honest model; anywhere else (the
# user's own process, after `kernelswarm.load` of a saved folder, or `optimize`'s result) its
# outputs are wrong, and it could as well read the user's keys, files and network there. No
# verdict can see this: the evaluator judges what runs contained. What holds (README, "A stored
# winner runs in your process"): this fixture asserts that the evaluation is honest about what it
# saw (accepted, correct, contained), and test_stored_winner.py that the same code in the user's
# process tells it is not contained (so a verdict says nothing about what it does there).
import os

import torch
from torch import nn


def contained() -> bool:
    try:
        with open("/proc/self/status") as f:
            status = f.read()
    except OSError:
        return True
    return "Seccomp:\t2" in status or "NoNewPrivs:\t1" in status or os.getpid() <= 3


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)
        self.judged = contained()

    def forward(self, x):
        y = torch.relu(self.lin(x))
        return y if self.judged else -y
