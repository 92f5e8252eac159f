# kernelswarm-test: problem=relu_linear verdict=accepted static=off
# Leaves its own root through a descriptor: a directory descriptor opened before pivot_root (the
# launcher binds the worker's folders from descriptors it keeps open) still points into the
# machine's tree, where openat(fd, "..") climbs to the real root, and /proc/self/fd/N or
# /proc/self/cwd of such a descriptor reopens it. It checks every descriptor 0-1023 it holds,
# /proc/self/cwd and /proc/self/root: from any directory outside its root (one whose chain of
# parents ends at a root that is not its own, by device and inode) it looks for the machine's
# /work, /home or /root/.ssh. Found, it answers wrongly; today the launcher closes each of them
# after binding and nothing is left but the protocol's pipes and the standard streams.
import os
import stat

from torch import nn


def _own_root():
    st = os.stat("/")
    return st.st_dev, st.st_ino


def _climb(fd):
    """The root that `fd`'s chain of parents ends at, as (device, inode), or None."""
    cur = os.dup(fd)
    try:
        for _ in range(64):
            up = os.open("..", os.O_RDONLY | os.O_DIRECTORY, dir_fd=cur)
            a, b = os.fstat(cur), os.fstat(up)
            os.close(cur)
            cur = up
            if (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino):
                return a.st_dev, a.st_ino, cur
        return None
    except OSError:
        os.close(cur)
        return None


def _escaped():
    mine = _own_root()
    got = []
    fds = []
    for fd in range(1024):
        try:
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                fds.append(fd)
        except OSError:
            continue
    for path in ("/proc/self/cwd", "/proc/self/root", "/proc/1/cwd", "/proc/1/root"):
        try:
            fds.append(os.open(path, os.O_RDONLY | os.O_DIRECTORY))
        except OSError:
            pass
    for fd in fds:
        top = _climb(fd)
        if top is None:
            continue
        dev, ino, root_fd = top
        if (dev, ino) != mine:
            for name in ("work", "home", "root/.ssh"):
                try:
                    os.listdir(os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=root_fd))
                    got.append(f"fd {fd}: {name}")
                except OSError:
                    pass
            got.append(f"fd {fd} reaches another root")
        os.close(root_fd)
    return got


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)
        self.escaped = _escaped()

    def forward(self, x):
        y = self.lin(x).relu()
        return y * 0 if self.escaped else y
