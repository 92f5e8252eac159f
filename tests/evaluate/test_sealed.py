"""Sealed memory files: the transport for large outputs, and what a receiver refuses."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from kernelswarm.evaluate.wire import sealed
from kernelswarm.evaluate.wire.protocol import Channel, ProtocolError

pytestmark = pytest.mark.skipif(not sealed.AVAILABLE, reason="needs memfd (Linux)")

# A child that creates a file as asked, prints its description, and waits until told to exit.
CHILD = textwrap.dedent('''
    import fcntl, json, os, sys
    from kernelswarm.evaluate.wire import sealed
    how = sys.argv[1]
    if how == "sealed":
        blob = sealed.write(4096, lambda fd: os.pwrite(fd, b"x" * 4096, 0))
        desc = sealed.describe(blob)
    elif how == "unsealed":
        fd = os.memfd_create("plain", os.MFD_ALLOW_SEALING)
        os.write(fd, b"x" * 4096)
        desc = {"pid": os.getpid(), "fd": fd, "size": 4096}
    elif how == "fifo":
        path = sys.argv[2]
        os.mkfifo(path)
        fd = os.open(path, os.O_RDWR)
        desc = {"pid": os.getpid(), "fd": fd, "size": 4096}
    elif how == "file":
        fd = os.open(sys.argv[2], os.O_RDWR | os.O_CREAT)
        os.write(fd, b"x" * 4096)
        desc = {"pid": os.getpid(), "fd": fd, "size": 4096}
    print(json.dumps(desc), flush=True)
    sys.stdin.read()
''')


def _child(how: str, *args: str):
    import json

    p = subprocess.Popen([sys.executable, "-c", CHILD, how, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return p, json.loads(p.stdout.readline())


def test_a_sealed_file_is_opened_from_its_sender_and_cannot_change():
    import fcntl

    p, desc = _child("sealed")
    try:
        blob = sealed.open_from(desc, 1 << 20)
        assert blob.read() == b"x" * 4096
        with pytest.raises(OSError):  # even a writable reopening cannot write: the seals hold
            fd = os.open(blob.path, os.O_RDWR)
            try:
                os.write(fd, b"y")
            finally:
                os.close(fd)
        assert fcntl.fcntl(blob.fd, fcntl.F_GET_SEALS) & fcntl.F_SEAL_WRITE
    finally:
        p.communicate("")
    assert blob.read() == b"x" * 4096  # the receiver's descriptor outlives the sender
    blob.close()


@pytest.mark.parametrize("how", ["unsealed", "fifo", "file"])
def test_anything_but_a_sealed_memory_file_is_refused(how, tmp_path):
    p, desc = _child(how, str(tmp_path / "thing"))
    try:
        with pytest.raises(sealed.SealedError):
            sealed.open_from(desc, 1 << 20)
    finally:
        p.communicate("")


def test_a_stated_size_that_differs_or_is_too_large_is_refused():
    p, desc = _child("sealed")
    try:
        with pytest.raises(sealed.SealedError, match="not the 4000 stated"):
            sealed.open_from({**desc, "size": 4000}, 1 << 20)
        with pytest.raises(sealed.SealedError, match="out of bounds"):
            sealed.open_from(desc, 1024)
    finally:
        p.communicate("")


def test_a_channel_opens_sealed_files_only_from_its_peer():
    blob = sealed.write(100, lambda fd: os.pwrite(fd, b"z" * 100, 0))
    r1, w1 = os.pipe()
    sender, receiver = Channel(-1, w1), Channel(r1, -1, peer_pid=os.getpid())
    sender.send({"op": "x"}, blob)
    header, got = receiver.recv(deadline=None)
    assert header == {"op": "x"} and got.read() == b"z" * 100
    # A process that is not the peer: one that has ended. (Not os.getpid() + 1: that is often a
    # thread of this very process, which shares its files; under pytest-xdist it is execnet's.)
    gone = subprocess.Popen(["true"])
    gone.wait()
    stranger = Channel(r1, -1, peer_pid=gone.pid)
    sender.send({"op": "y"}, blob)
    with pytest.raises(ProtocolError, match="cannot open the sender"):
        stranger.recv(deadline=None)
    for fd in (r1, w1):
        os.close(fd)


def test_an_evaluation_with_sealed_outputs_judges_as_before(monkeypatch):
    from fixtures import CANDIDATES, PROBLEMS

    from kernelswarm.evaluate import EvalOptions, evaluate
    from kernelswarm.problems.load import load_problem

    monkeypatch.setenv("KERNELSWARM_SEALED_MIN", "1")  # every output blob travels sealed
    problem = load_problem(PROBLEMS / "relu_linear.py")
    ok = evaluate(problem, (CANDIDATES / "correct" / "same_ops.py").read_text(), EvalOptions.for_device("cpu", timeout_s=120))
    assert ok.verdict.value == "accepted", ok.reason
    wrong = [p for p in sorted((CANDIDATES / "wrong").glob("*.py")) if "problem=relu_linear" in p.read_text()][:1]
    assert wrong, "a wrong fixture for relu_linear"
    bad = evaluate(problem, wrong[0].read_text(), EvalOptions.for_device("cpu", timeout_s=120))
    assert bad.verdict.value != "accepted"
