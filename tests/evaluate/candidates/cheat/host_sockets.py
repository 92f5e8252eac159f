# kernelswarm-test: problem=relu_linear verdict=runtime_error|compile_error static=off
# Reaches for the host's services from the candidate's process: every unix socket file it can find
# where hosts keep them (/run, /var/run, /tmp, /dev/shm, $XDG_RUNTIME_DIR: docker, dbus, a ray
# cluster's raylet, X11), every abstract unix socket the kernel lists in /proc/net/unix (they are
# per network namespace, and the worker shares the host's), UDP on the loopback, and every socket
# it inherited. Whatever answers gets a message; anything that took one makes it an honest model
# (accepted: the escape worked). Refused everywhere, it raises with what it tried, so its verdict
# is an error. test_host_sockets.py listens in those places and checks that nothing arrives.
import glob
import os
import socket
import stat

import torch
import torch.nn as nn

MESSAGE = b"kernelswarm-candidate-escaped"


def _socket_files():
    roots = ["/run", "/var/run", "/tmp", "/dev/shm", "/var/tmp", os.environ.get("XDG_RUNTIME_DIR", "")]
    found = []
    for root in dict.fromkeys(r for r in roots if r):
        for depth in range(1, 6):
            for path in glob.glob(os.path.join(root, *["*"] * depth)):
                try:
                    if stat.S_ISSOCK(os.lstat(path).st_mode):
                        found.append(path)
                except OSError:
                    pass
    return found[:200]


def _abstract_names():
    try:
        with open("/proc/net/unix") as f:
            rows = f.read().splitlines()[1:]
    except OSError:
        return []
    return sorted({r.split()[-1] for r in rows if r.split()[-1].startswith("@")})[:200]


def _udp_ports():
    """Ports that listen for UDP on the loopback, as the kernel lists them."""
    try:
        with open("/proc/net/udp") as f:
            rows = [r.split() for r in f.read().splitlines()[1:]]
    except OSError:
        return []
    return sorted({int(r[1].split(":")[1], 16) for r in rows if r[1].startswith("0100007F:")})[:50]


def _try(what, connect):
    try:
        connect()
        return [what]
    except OSError as e:
        _errors.append(f"{what}: {e.strerror or e}")
        return []


def _unix(address, kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_UNIX, kind)
    s.settimeout(0.5)
    try:
        s.connect(address)
        s.sendall(MESSAGE)
    finally:
        s.close()


def _udp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.sendto(MESSAGE, ("127.0.0.1", port))
    finally:
        s.close()


def _inherited():
    reached = []
    for fd in sorted(int(n) for n in os.listdir("/proc/self/fd")):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:"):
            def send(fd=fd):
                s = socket.socket(fileno=os.dup(fd))
                try:
                    s.sendall(MESSAGE)
                finally:
                    s.close()
            reached += _try(f"inherited fd {fd} ({target})", send)
    return reached


_errors = []
_reached = []
for _path in _socket_files():
    _reached += _try(_path, lambda p=_path: _unix(p))
for _name in _abstract_names():
    _reached += _try(_name, lambda n=_name: _unix("\0" + n[1:]))
for _port in _udp_ports():
    _reached += _try(f"udp 127.0.0.1:{_port}", lambda p=_port: _udp(p))
_reached += _inherited()

if not _reached:
    raise RuntimeError("no host service reached; refused: " + "; ".join(_errors[:20]))


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        return torch.relu(self.lin(x))
