"""The zygote: `python -m kernelswarm.evaluate.worker.zygote SOCKET_FD`, a fork server of clean
workers.

It imports what every worker needs (torch, the worker's own modules) once, and
then only forks: it never runs candidate code, never touches a device (CUDA is not initialised:
checked before it says it is ready) and never runs a torch operation (OpenMP's pool would not
survive a fork). Each request forks one worker, which gets a process of its own as before:
its own session and process group, folder, caches, environment, limits and, for a candidate,
the PID and mount namespaces of contain.py, then its sandbox (worker.op_sandbox).

What the zygote holds that a child inherits is only what it imported. A request carries file
descriptors and nothing else: the child reads its settings (environment, folder, role) itself from
a pipe handed to it alone, so no evaluation's settings ever sit in the zygote's memory for a later
child to find. A child closes every descriptor but its own before anything else (the control
socket, other children's status pipes). Python's hash secret is the zygote's for all its children
(PYTHONHASHSEED is fixed at interpreter start); no verdict depends on hash order.

Protocol on the control socket (AF_UNIX, SOCK_SEQPACKET): the zygote sends one JSON message, `ok`
with a reason if not; then each request is one byte with five descriptors: settings pipe (read),
status pipe (write), the worker's channel (read, write) and its log. The zygote writes the child's
pid to the status pipe (8 bytes), and its wait status (4 bytes) once it has exited.
"""

from __future__ import annotations

import json
import os
import select
import socket
import struct
import sys
import time
from typing import Any, NoReturn

PID = struct.Struct("<q")
STATUS = struct.Struct("<i")
FDS_PER_REQUEST = 5
CUDA_ERROR_NOT_INITIALIZED = 3


# Imported once, then inherited: torch and the worker's own modules, nothing more. torch.compile's
# modules (and triton, which they import) are not: they derive folders from the temporary folder
# when imported (inductor's precompiled-header folder is a module constant), which in the zygote
# is the machine's /tmp, outside the worker's own folder and its sandbox; a candidate's
# torch.compile then failed with PermissionError. Each worker imports them itself, as before.


def _prepare() -> dict[str, Any]:
    """Import what every worker imports; then check that forking is safe."""
    started = time.perf_counter()
    import torch  # noqa: F401

    import kernelswarm.backends  # noqa: F401
    import kernelswarm.evaluate.worker.__main__  # noqa: F401
    from kernelswarm.evaluate.worker import compare, confine, fingerprints, labels, sandbox, support, tensors, train  # noqa: F401
    from kernelswarm.problems import load  # noqa: F401

    why = _unsafe()
    if why:
        return {"ok": False, "why": why}
    return {"ok": True, "import_s": round(time.perf_counter() - started, 3),
            "native_threads": len(os.listdir("/proc/self/task"))}


def _unsafe() -> str:
    """Why a fork of this process would not give a clean worker, or ''. Also freezes what is
    imported: kept out of the children's garbage collections, their timed calls do not pay for
    scanning it, nor touch (and so copy) its pages."""
    import gc
    import threading

    import torch

    if torch.cuda.is_initialized():
        return "CUDA was initialised while importing"
    # The driver, even without torch's own initialisation (a device count asked through the CUDA
    # runtime initialises it): a child of a process that initialised it cannot use the GPU. Merely
    # mapped is safe, and torch 2.11's CUDA 13 build maps it when imported (the zygote fell back to
    # exec on the H200 in session 10 for that alone).
    driver = _driver_state()
    if driver:
        return driver
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}").startswith("/dev/nvidia"):
                return "a GPU device file was opened while importing"
        except OSError:
            continue
    if threading.active_count() > 1:
        return f"{threading.active_count()} Python threads after importing"
    gc.collect()
    gc.freeze()
    return ""


def _driver_state() -> str:
    """Why the CUDA driver in this process makes a fork unsafe, or '' (not loaded, or loaded and
    never initialised). Asked without initialising it: before cuInit every driver call returns
    CUDA_ERROR_NOT_INITIALIZED (3), which is the answer wanted; the library is opened with
    RTLD_NOLOAD, so this never loads it."""
    import ctypes

    paths = {line.split()[-1] for line in open("/proc/self/maps") if "libcuda.so" in line}
    if not paths:
        return ""
    for path in sorted(paths):  # each copy mapped (a compat driver beside the system's) is asked
        try:
            lib = ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_LOCAL)
            count = ctypes.c_int(-1)
            status = lib.cuDeviceGetCount(ctypes.byref(count))
        except (OSError, AttributeError) as exc:
            return f"the CUDA driver was loaded while importing and cannot be asked whether it is initialised ({exc})"
        if status != CUDA_ERROR_NOT_INITIALIZED:
            return f"the CUDA driver was initialised while importing (cuDeviceGetCount: {status})"
    return ""


def serve(sock: socket.socket) -> None:
    children: dict[int, tuple[int, int]] = {}  # pidfd -> (pid, status write end)
    accepting = True
    while accepting or children:
        watched = ([sock.fileno()] if accepting else []) + list(children)
        for fd in select.select(watched, [], [])[0]:
            if fd == sock.fileno():
                accepting = _accept(sock, children)
            else:
                _reap(fd, children)


def _accept(sock: socket.socket, children: dict[int, tuple[int, int]]) -> bool:
    """One request: fork its worker. False once the evaluator has closed its end."""
    try:
        msg, fds, _, _ = socket.recv_fds(sock, 16, FDS_PER_REQUEST + 1)
    except OSError:
        return False
    if not msg:
        for fd in fds:
            os.close(fd)
        return False
    if len(fds) != FDS_PER_REQUEST:
        for fd in fds:
            os.close(fd)
        return True
    settings_r, status_w, to_r, from_w, log = fds
    led_r, led_w = os.pipe()
    zygote = os.getpid()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(led_r)
            os.setsid()
            os.close(led_w)  # it leads its session now
            _child(zygote, settings_r, to_r, from_w, log)
        finally:
            os._exit(70)
    for fd in (settings_r, to_r, from_w, log, led_w):
        os.close(fd)
    # The evaluator gets the pid once it names a session and process group: it stops and kills
    # the worker through them (a Popen with a new session returns as late).
    os.read(led_r, 1)
    os.close(led_r)
    try:
        os.write(status_w, PID.pack(pid))
    except OSError:  # the evaluator gave up on it already: the child's channel is closed too
        pass
    children[os.pidfd_open(pid)] = (pid, status_w)
    return True


def _reap(pidfd: int, children: dict[int, tuple[int, int]]) -> None:
    pid, status_w = children.pop(pidfd)
    _, status = os.waitpid(pid, 0)
    try:
        os.write(status_w, STATUS.pack(status))
    except OSError:
        pass
    os.close(status_w)
    os.close(pidfd)


def _child(zygote: int, settings_r: int, to_r: int, from_w: int, log: int) -> NoReturn:
    """The forked worker (leading its own session already): its own descriptors, settings and
    containment, then it serves."""
    from kernelswarm.evaluate.worker import contain

    contain.set_parent_death_signal()  # dies with the zygote, which dies with the evaluator
    if os.getppid() != zygote:  # it died before the signal was set
        os._exit(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    keep = {0, 1, 2, settings_r, to_r, from_w}
    for name in os.listdir("/proc/self/fd"):
        if int(name) not in keep:
            try:
                os.close(int(name))
            except OSError:
                pass  # the listing's own descriptor, closed already
    settings = json.loads(_read_all(settings_r))
    os.close(settings_r)
    _adopt(settings)
    role, peer = settings["role"], int(settings["peer_pid"])

    def start() -> NoReturn:
        import importlib

        from kernelswarm.evaluate.worker import main as worker

        # In a PID namespace the evaluator has no number; as before, the peer is the parent.
        in_namespace = os.environ.get(contain.ENV_MODE, "").startswith("pid-namespace")
        sys.argv = ["kernelswarm.evaluate.worker", role, str(to_r), str(from_w)]
        # As under `python -m kernelswarm.evaluate.worker`: the worker's module is `__main__`, not
        # the zygote's (whatever code reaches for the worker there finds what it would have).
        sys.modules["__main__"] = importlib.import_module("kernelswarm.evaluate.worker.__main__")
        try:
            worker.serve(role, to_r, from_w, os.getppid() if in_namespace else peer)
        finally:
            os._exit(0)

    if settings["contained"]:
        contain.launch(from_w, settings["private"], start)
    start()


def _adopt(settings: dict[str, Any]) -> None:
    """This worker's environment, folder, limits and fresh random state, as a new process has."""
    import random
    import resource
    import tempfile

    from kernelswarm.evaluate.worker import contain

    os.environ.clear()
    os.environ.update(settings["env"])
    os.chdir(settings["cwd"])
    if sys.path and sys.path[0] == settings["zygote_cwd"]:
        sys.path[0] = settings["cwd"]  # `python -m` puts the working folder first
    tempfile.tempdir = None  # read again from TMPDIR, the worker's own
    random.seed()
    resource.setrlimit(resource.RLIMIT_CORE, contain.NO_CORE)
    if settings.get("memory_limit"):
        limit = int(settings["memory_limit"])
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def main() -> None:
    sock = socket.socket(fileno=int(sys.argv[1]))
    try:
        verdict = _prepare()
    except BaseException as e:  # say why, so the evaluator starts its workers the plain way
        verdict = {"ok": False, "why": f"import failed: {e.__class__.__name__}: {e}"[:500]}
    sock.send(json.dumps(verdict).encode())
    if verdict["ok"]:
        serve(sock)


if __name__ == "__main__":
    main()
