"""The evaluator's side of the zygote (zygote.py): one per device and worker environment, started
on first use, asked to fork each worker. Standard library only.

A worker forked this way starts in milliseconds instead of seconds (the import of torch was the
zygote's, once). Where the zygote cannot be used (not Linux, no pidfd, KERNELSWARM_ZYGOTE=0, the
zygote reported forking unsafe, or it died), `spawn` raises `Unavailable` and the caller starts the
worker the plain way (a new interpreter): nothing is judged differently, only started slower.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from typing import Any

from kernelswarm.evaluate.worker import contain

ENV_SWITCH = "KERNELSWARM_ZYGOTE"  # "0": every worker is a new interpreter (the old path)
_READY_S = 600.0  # importing torch on a loaded machine can take minutes
_PID_S = 60.0


class Unavailable(Exception):
    """No zygote can fork this worker: start it the plain way."""


def enabled() -> bool:
    return (sys.platform.startswith("linux") and hasattr(os, "pidfd_open") and hasattr(socket, "send_fds")
            and os.environ.get(ENV_SWITCH, "1").lower() not in ("0", "off", "no", "false"))


@dataclass(frozen=True)
class Settings:
    """What a forked worker adopts (zygote._adopt); `env` is its whole environment."""

    role: str
    env: dict[str, str]
    cwd: str
    memory_limit: int | None
    contained: bool
    private: list[str]


class ForkedProc:
    """A forked worker as the evaluator sees it: what procs.WorkerProcess uses of a Popen."""

    def __init__(self, pid: int, status_fd: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._status_fd = status_fd  # the zygote writes the wait status here when it has reaped it

    def poll(self) -> int | None:
        return self.wait(0.0) if self.returncode is None and self._ready(0.0) else self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            if not self._ready(timeout):
                raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout or 0.0)
            data = os.read(self._status_fd, 4)
            os.close(self._status_fd)
            # No status means the zygote died, and its death signal killed the worker.
            status = int.from_bytes(data, "little", signed=True) if len(data) == 4 else signal.SIGKILL
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def _ready(self, timeout: float | None) -> bool:
        return bool(select.select([self._status_fd], [], [], timeout)[0])

    def __del__(self) -> None:
        if self.returncode is None:
            try:
                os.close(self._status_fd)
            except OSError:
                pass


class Zygote:
    """One zygote process and the control socket to it."""

    def __init__(self, env: dict[str, str]) -> None:
        self.folder = tempfile.mkdtemp(prefix="kernelswarm-zygote-")
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.proc: subprocess.Popen | None = None
        started = threading.Event()
        failure: list[BaseException] = []

        def hold() -> None:
            # Started from a thread that lives as long as the evaluator: the zygote's death signal
            # follows the thread that started it, and an evaluation's thread may end any time.
            try:
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "kernelswarm.evaluate.worker.zygote", str(theirs.fileno())],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    # A device count through NVML, not the CUDA runtime, which would load the
                    # driver into the zygote (zygote._unsafe); its children's is their own.
                    cwd=self.folder, env={**env, "PYTORCH_NVML_BASED_CUDA_CHECK": "1"},
                    pass_fds=(theirs.fileno(),), start_new_session=True,
                    preexec_fn=contain.set_parent_death_signal)
            except BaseException as e:
                failure.append(e)
            started.set()
            self._stop.wait()

        threading.Thread(target=hold, name="kernelswarm-zygote", daemon=True).start()
        started.wait()
        theirs.close()
        if failure:
            raise Unavailable(f"the zygote could not start ({failure[0]})")
        self.ready: dict[str, Any] | None = None  # its report, once received

    def await_ready(self) -> dict[str, Any]:
        with self._lock:
            if self.ready is None:
                self.sock.settimeout(_READY_S)
                try:
                    self.ready = json.loads(self.sock.recv(4096) or b'{"ok": false, "why": "it exited"}')
                except (OSError, ValueError) as e:
                    self.ready = {"ok": False, "why": f"no report ({e.__class__.__name__})"}
                self.sock.settimeout(None)
        return self.ready

    def spawn(self, settings: Settings, to_child_r: int, from_child_w: int, log_fd: int) -> ForkedProc:
        ready = self.await_ready()
        if not ready.get("ok"):
            raise Unavailable(f"the zygote cannot fork workers: {ready.get('why')}")
        settings_r, settings_w = os.pipe()
        status_r, status_w = os.pipe()
        try:
            with self._lock:
                socket.send_fds(self.sock, [b"s"], [settings_r, status_w, to_child_r, from_child_w, log_fd])
        except OSError as e:
            for fd in (settings_r, settings_w, status_r, status_w):
                os.close(fd)
            raise Unavailable(f"the zygote is gone ({e.__class__.__name__})") from None
        os.close(settings_r)
        os.close(status_w)
        try:
            body = json.dumps({**settings.__dict__, "peer_pid": os.getpid(), "zygote_cwd": self.folder}).encode()
            with os.fdopen(settings_w, "wb") as f:  # the child reads it: the pipe never fills for long
                f.write(body)
            pid = _read_pid(status_r)
        except (OSError, ValueError) as e:
            os.close(status_r)
            raise Unavailable(f"the zygote did not fork the worker ({e})") from None
        return ForkedProc(pid, status_r)

    def retire(self) -> None:
        """No more requests: the zygote exits once its last child has."""
        self.sock.close()
        self._stop.set()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def _read_pid(fd: int) -> int:
    if not select.select([fd], [], [], _PID_S)[0]:
        raise ValueError("no process id in time")
    data = os.read(fd, 8)
    if len(data) != 8:
        raise ValueError("no process id")
    return int.from_bytes(data, "little", signed=True)


_zygotes: dict[tuple[str, ...], Zygote] = {}
_failed: set[tuple[str, ...]] = set()
_lost: dict[tuple[str, ...], int] = {}
_MAX_LOST = 3
_pool_lock = threading.Lock()


def spawn(settings: Settings, zygote_env: dict[str, str], fds: tuple[int, int, int]) -> ForkedProc:
    """Fork a worker from the zygote started under `zygote_env` (one per such environment, which
    names the device). Raises Unavailable where the worker must be started the plain way."""
    key = tuple(f"{k}={v}" for k, v in sorted(zygote_env.items()))
    with _pool_lock:
        if key in _failed:
            raise Unavailable("the zygote for this environment failed before")
        zygote = _zygotes.get(key)
        if zygote is not None and not zygote.alive():
            zygote = None
        if zygote is None:
            # Another environment (a new test's tag, another device): processes forked later show
            # their zygote's starting environment in /proc/<pid>/environ, so each gets its own.
            for other in [k for k in _zygotes if _device(k) == _device(key)]:
                _zygotes.pop(other).retire()
            zygote = _zygotes[key] = Zygote(zygote_env)
    try:
        return zygote.spawn(settings, *fds)
    except Unavailable:
        with _pool_lock:
            if _zygotes.get(key) is zygote:  # a dead one is started again next time
                _zygotes.pop(key).retire()
            _lost[key] = _lost.get(key, 0) + 1
            # One that cannot fork safely here never will; one lost again and again is not started again.
            if not (zygote.ready or {}).get("ok") or _lost[key] >= _MAX_LOST:
                _failed.add(key)
        raise


def _device(key: tuple[str, ...]) -> str:
    return next((kv for kv in key if kv.startswith("CUDA_VISIBLE_DEVICES=")), "")


def zygote_pids() -> list[int]:
    """Processes of the zygotes now running (for tests looking for processes left behind)."""
    with _pool_lock:
        return [z.proc.pid for z in _zygotes.values() if z.proc is not None and z.alive()]


def shutdown() -> None:
    """Retire every zygote (each exits after its last worker)."""
    with _pool_lock:
        for zygote in _zygotes.values():
            zygote.retire()
        _zygotes.clear()

