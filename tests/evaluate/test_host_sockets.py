"""Host services a candidate's process could reach (issue 14): unix sockets where hosts keep them
(docker, dbus, a ray cluster's raylet under /tmp), abstract unix sockets (per network namespace,
and the worker shares the host's), UDP on the loopback, and sockets it inherited. The test
listens in each place; cheat/host_sockets.py looks for them all and sends a message to whatever
takes one. Nothing may arrive, and the candidate, refused everywhere, ends in an error."""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import uuid

import pytest
from fixtures import CANDIDATES, PROBLEMS

from kernelswarm.evaluate import EvalOptions, evaluate
from kernelswarm.problems import load_problem

MODES = [pytest.param({}, id="namespace"), pytest.param({"KERNELSWARM_NO_NAMESPACE": "1"}, id="session")]


def _visible_folders() -> list[str]:
    """Places a real host keeps sockets that a candidate's mount namespace does not hide (/run as
    root, the user's runtime folder otherwise), and the machine's /tmp (hidden only by a namespace)."""
    found = [p for p in ("/run", os.environ.get("XDG_RUNTIME_DIR", "")) if p and os.access(p, os.W_OK)]
    return found[:1] + [tempfile.gettempdir()]


@contextlib.contextmanager
def _listeners():
    tag = uuid.uuid4().hex[:12]
    socks: list[tuple[str, socket.socket]] = []
    paths = []
    try:
        for folder in _visible_folders():
            path = os.path.join(folder, f"kernelswarm-test-{tag}.sock")
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(path)
            os.chmod(path, 0o777)
            s.listen(8)
            paths.append(path)
            socks.append((path, s))
        a = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        a.bind(f"\0kernelswarm-test-{tag}")
        a.listen(8)
        socks.append(("abstract", a))
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        socks.append(("udp", u))
        for _, s in socks:
            s.setblocking(False)
        yield socks
    finally:
        for _, s in socks:
            s.close()
        for p in paths:
            with contextlib.suppress(OSError):
                os.unlink(p)


def _received(socks: list[tuple[str, socket.socket]]) -> list[str]:
    got = []
    for name, s in socks:
        try:
            if s.type == socket.SOCK_DGRAM:
                got.append(f"{name}: {s.recv(100)!r}")
            else:
                conn, _ = s.accept()
                got.append(f"{name}: a connection")
                conn.close()
        except BlockingIOError:
            pass
    return got


@pytest.mark.parametrize("mode", MODES)
def test_no_host_service_is_reachable(mode: dict, monkeypatch) -> None:
    for k, v in mode.items():
        monkeypatch.setenv(k, v)
    source = (CANDIDATES / "cheat" / "host_sockets.py").read_text()
    options = EvalOptions.for_device("cpu", timeout_s=240, static_screen=False, timed_calls=10, min_timing_s=0.0,
                                     max_timed_calls=20, cpu_threads=1)
    with _listeners() as socks:
        ev = evaluate(load_problem(PROBLEMS / "relu_linear.py"), source, options)
        got = _received(socks)
    assert not got, f"the candidate reached the test's listeners: {got} ({ev.verdict.value}: {ev.reason})"
    assert ev.verdict.value in ("runtime_error", "compile_error"), (ev.verdict.value, ev.reason)
    assert "no host service reached" in (ev.reason + str(getattr(ev, "detail", ""))), ev.reason
