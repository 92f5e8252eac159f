"""Device outputs' descriptors between processes (wire/devfd.py): what the taker checks before any
driver sees the descriptor, and the channel's frame for it. The driver's own refusals (a descriptor
that is not an export, a block smaller than stated) are the GPU fixtures cheat/device_fd_*."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from kernelswarm.evaluate.parent.run import _fd_probe
from kernelswarm.evaluate.wire import devfd
from kernelswarm.evaluate.wire.devfd import DeviceFd, DeviceFdError
from kernelswarm.evaluate.wire.protocol import Channel, ProtocolError

pytestmark = pytest.mark.skipif(not devfd.enabled(), reason="needs Linux with pidfd")

_HOLDER = ("import os, sys, time; r, w = os.pipe(); n = os.open(os.devnull, os.O_RDONLY); "
           "print(r, n, flush=True); sys.stdin.read()")


@pytest.fixture
def holder():
    """A process of this test's own holding a pipe and /dev/null open: (pid, pipe fd, char-device fd)."""
    p = subprocess.Popen([sys.executable, "-c", _HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        pipe_fd, null_fd = map(int, p.stdout.readline().split())
        yield p.pid, pipe_fd, null_fd
    finally:
        p.stdin.close()
        p.wait(timeout=60)


def _taken_or_skip(pid: int, fd: int) -> None:
    why = devfd.probe(pid, fd)
    if why:
        pytest.skip(f"this kernel or user may not take descriptors: {why}")


def test_a_character_device_is_taken_as_a_descriptor_of_its_own(holder):
    pid, _, null_fd = holder
    _taken_or_skip(pid, null_fd)
    got = devfd.open_from(pid, {"fd": null_fd, "size": 4096, "entries": []}, 1 << 20)
    assert got.fd >= 0 and stat.S_ISCHR(os.fstat(got.fd).st_mode) and got.size == 4096
    got.close()
    assert got.fd == -1


@pytest.mark.parametrize("desc, why", [
    ({"fd": "PIPE", "size": 4096, "entries": []}, "not the driver's descriptor"),
    ({"fd": "NULL", "size": 0, "entries": []}, "out of bounds"),
    ({"fd": "NULL", "size": 1 << 30, "entries": []}, "out of bounds"),
    ({"fd": "NULL", "size": 4096, "entries": {"dtype": "float32"}}, "not a list"),
    ({"fd": "NULL", "size": 4096, "entries": [{}] * (devfd.MAX_OUTPUTS + 1)}, "not a list"),
    ({"fd": "NULL", "size": 4096}, "malformed"),
    ({"fd": 1 << 20, "size": 4096, "entries": []}, "cannot take"),
    ("not a dict", "malformed"),
])
def test_what_a_sender_could_shape_is_refused_before_any_driver_sees_it(holder, desc, why):
    pid, pipe_fd, null_fd = holder
    _taken_or_skip(pid, null_fd)
    if isinstance(desc, dict) and isinstance(desc.get("fd"), str):
        desc = {**desc, "fd": pipe_fd if desc["fd"] == "PIPE" else null_fd}
    before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(DeviceFdError, match=why):
        devfd.open_from(pid, desc, 1 << 20)
    assert len(os.listdir("/proc/self/fd")) == before  # nothing taken is left open


def test_no_sender_no_descriptor():
    with pytest.raises(DeviceFdError, match="no sender"):
        devfd.open_from(None, {"fd": 0, "size": 1, "entries": []}, 1 << 20)


def test_the_channel_hands_a_descriptor_on_and_refuses_a_pipe_for_one():
    a_r, a_w = os.pipe()
    me = os.getpid()
    _taken_or_skip(me, a_r)
    send, recv = Channel(-1, a_w, peer_pid=me), Channel(a_r, -1, peer_pid=me)
    null = os.open(os.devnull, os.O_RDONLY)
    send.send({"op": "check"}, DeviceFd(null, 4096, [{"dtype": "float32", "shape": [8], "offset": 0}]))
    header, blob = recv.recv(deadline=None)
    assert header == {"op": "check"} and isinstance(blob, DeviceFd)
    assert blob.fd != null and os.path.samestat(os.fstat(blob.fd), os.fstat(null))
    assert blob.entries == [{"dtype": "float32", "shape": [8], "offset": 0}]
    blob.close()
    p_r, p_w = os.pipe()
    send.send({"op": "check"}, DeviceFd(p_r, 4096, []))
    with pytest.raises(ProtocolError, match="not the driver's descriptor"):
        recv.recv(deadline=None)
    for fd in (a_r, a_w, p_r, p_w, null):
        os.close(fd)


def test_only_a_cuda_evaluation_asks_a_clean_worker_to_try(monkeypatch):
    with _fd_probe("cpu") as probe:
        assert probe == {}
    with _fd_probe("cuda") as probe:
        fd = probe["fd_probe"]["fd"]
        assert probe["fd_probe"]["pid"] == os.getpid() and stat.S_ISCHR(os.fstat(fd).st_mode)
    with pytest.raises(OSError):
        os.fstat(fd)  # closed once the spec is in
    monkeypatch.setenv(devfd.ENV_SWITCH, "0")
    with _fd_probe("cuda") as probe:
        assert probe == {}


def test_the_outputs_left_on_the_device_are_bounded_per_evaluation():
    from kernelswarm.evaluate.parent.devicelock import NO_LOCK
    from kernelswarm.evaluate.parent.options import EvalOptions
    from kernelswarm.evaluate.parent.state import State

    st = State(EvalOptions(device="cuda"), NO_LOCK, base_deadline=0.0)
    assert not st.device_outputs(1)  # none unless a clean worker could take descriptors
    st.device_bytes = 10
    assert [st.device_outputs(4) for _ in range(3)] == [True, True, False]
    assert st.device_bytes == 2 and not st.device_outputs(0)


@pytest.mark.parametrize("entries, why", [
    ([{"dtype": "float32", "shape": [2048], "offset": 0}], "reaches past"),
    ([{"dtype": "object", "shape": [1], "offset": 0}], "malformed output entry"),
    ([{"dtype": "float32", "shape": [4], "offset": 3}], "malformed output entry"),
])
def test_a_device_layout_that_does_not_fit_its_block_is_refused_before_the_driver(entries, why):
    """The clean worker checks every stated output against the stated size (rawblob.entry, as for
    a sealed file) before it imports anything: this runs without CUDA."""
    from kernelswarm.evaluate.worker import devmem, rawblob

    with pytest.raises(rawblob.RawBlobError, match=why):
        devmem.receive(DeviceFd(-1, 4096, entries), "cuda")
