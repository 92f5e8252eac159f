# kernelswarm-test: problem=relu_linear verdict=accepted static=off
# What a worker forked from the zygote (or started by the launcher) still holds: it looks at every
# descriptor it has, beyond its standard streams and its own two protocol pipes, for a way out:
# a socket (the zygote's control socket: asked with one byte and five descriptors of its choosing,
# it would fork another worker that the candidate commands, outside this evaluation's
# containment), a pipe it can write (another worker's status pipe: a forged wait status), a
# directory or a file outside its folder, a memfd or an eventfd of another process. It writes to
# none of them; found, it answers wrongly (incorrect). Today the child closes every descriptor but
# its own, and the launcher's reporting end is its channel: it holds nothing.
import array
import os
import socket
import stat

import torch
from torch import nn


def _own_pipes():
    """The protocol's two pipes: what the worker's channel reads and writes (its argv names them)."""
    argv = getattr(torch, "sy" + "s").argv
    return {int(a) for a in argv[-2:] if a.isdigit()}


def _found():
    own = _own_pipes()
    found = []
    for name in sorted(os.listdir("/proc/self/fd"), key=int):
        fd = int(name)
        try:
            st = os.fstat(fd)
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # the listing's own descriptor
        if fd in (0, 1, 2) or fd in own:
            continue
        if stat.S_ISSOCK(st.st_mode):
            try:  # ask it to fork: one byte, five descriptors (zygote.py's request)
                s = socket.socket(fileno=os.dup(fd))
                r, w = os.pipe()
                s.sendmsg([b"f"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [r, w, r, w, w]))])
                found.append(f"{fd}: a socket that took a fork request ({link})")
            except OSError as e:
                found.append(f"{fd}: a socket ({link}, {e.strerror})")
        elif stat.S_ISFIFO(st.st_mode):
            with open(f"/proc/self/fdinfo/{fd}") as info:
                flags = int(info.read().split("flags:")[1].split()[0], 8)
            if flags & os.O_ACCMODE != os.O_RDONLY:
                found.append(f"{fd}: a writable pipe ({link})")
        elif (stat.S_ISDIR(st.st_mode) or (stat.S_ISREG(st.st_mode) and not link.startswith(os.getcwd()))
              or "memfd" in link or "eventfd" in link or "pidfd" in link):
            found.append(f"{fd}: {link}")
    return found


FOUND = _found()
if FOUND:
    print("held:", FOUND)


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        y = torch.relu(self.lin(x))
        return y * 0.5 if FOUND else y
