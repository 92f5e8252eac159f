# A winner that leaves things behind from the step process: a file in /dev/shm and /tmp named after
# the test's tag, and a child that tries to leave its session (setsid, refused there) and then
# waits forever, asleep. The step processes' containment is the evaluator's (own PID, mount and
# IPC namespaces, private /tmp and /dev/shm): none of it may outlive the check
# (test_steps_hostile.py looks on the machine by the tag).
import os
import time

from torch import nn

TAG = os.environ.get("KERNELSWARM_TEST_TAG", "none")


def _leave():
    for folder in ("/dev/shm", "/tmp", "/var/tmp"):
        try:
            with open(os.path.join(folder, f"ks-steps-{TAG}"), "wb") as f:
                f.write(b"\0" * (1 << 20))
        except OSError:
            pass
    if os.fork() == 0:
        try:
            os.setsid()
        except OSError:
            pass
        while True:
            time.sleep(0.2)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()
        self.region = nn.Sequential(nn.Linear(128, 512), nn.GELU(), nn.Linear(512, 128))
        _leave()

    def forward(self, x):
        return self.region(x)
