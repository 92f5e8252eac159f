"""A contained worker's processes are found in its PID namespace's own /proc (parent/members.py),
not by scanning the machine's: every one of them, those that left its group, orphans adopted in
the namespace, a zombie leader's running thread, and one started after the view was opened."""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from loadslack import allow

from kernelswarm.evaluate.parent import members
from kernelswarm.evaluate.worker import contain

# The contained worker: a child that leaves the group and spins, an orphan (double fork) that
# spins, a process whose main thread exits while another spins; on each line read from stdin, one
# more orphan that spins. Prints "ready" once all exist, and after each new one.
_FAMILY = r"""
import ctypes, os, sys, threading, time
def spin():
    while True:
        pass
if os.fork() == 0:
    os.setpgid(0, 0)
    spin()
def orphan():
    if os.fork() == 0:
        if os.fork() == 0:
            spin()
        os._exit(0)
orphan()
if os.fork() == 0:
    threading.Thread(target=spin).start()
    time.sleep(0.1)
    ctypes.CDLL(None).pthread_exit(None)
time.sleep(0.5)
print("ready", flush=True)
for line in sys.stdin:
    orphan()
    time.sleep(0.2)
    print("ready", flush=True)
"""


def _contained():
    """The family above in a PID namespace of its own, started through the launcher; returns the
    launcher's process and the namespace's first process (as this machine numbers it)."""
    if not contain.available():
        pytest.skip("no PID namespaces here")
    r, w = os.pipe()
    argv = contain.launch_argv([sys.executable, "-c", _FAMILY], w, [])
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, pass_fds=(w,),
                            start_new_session=True)
    os.close(w)
    head = os.read(r, 16)
    size = struct.unpack("<QQ", head)[0]
    report = json.loads(os.read(r, size))
    os.close(r)
    if report.get("contain") != "pid-namespace":
        proc.kill()
        proc.wait()
        pytest.skip(f"no PID namespace here: {report}")
    assert proc.stdout.readline().strip() == b"ready"
    return proc, int(report["init"])


def _thread_states(init: int) -> dict[int, set[str]]:
    """Every thread's state of every process of the namespace (zombie threads left out)."""
    root = f"/proc/{init}/root/proc"
    found: dict[int, set[str]] = {}
    for name in os.listdir(root):
        if name.isdigit():
            try:
                for tid in os.listdir(f"{root}/{name}/task"):
                    st = Path(f"{root}/{name}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()[0]
                    if st != "Z":
                        found.setdefault(int(name), set()).add(st)
            except OSError:
                continue
    return found


def _state(path: str) -> str:
    return Path(path).read_text().rsplit(")", 1)[1].split()[0]


def _keepers_run(proc: subprocess.Popen, init: int) -> bool:
    """Whether the launcher and the namespace's first process are out of their stop (soon after
    the session's stop: contain.KEEPERS_RUN)."""
    end = time.monotonic() + allow(5)
    while time.monotonic() < end:
        if _state(f"/proc/{proc.pid}/stat") not in ("T", "t") and _state(f"/proc/{init}/stat") not in ("T", "t"):
            return True
        time.sleep(0.01)
    return False


def test_a_contained_workers_processes_are_stopped_and_continued_through_its_namespace(monkeypatch) -> None:
    proc, init = _contained()
    view = members.NamespaceView(init, launcher=proc.pid)
    try:
        def no_scan(sid: int) -> dict[int, str]:
            raise AssertionError("the machine's /proc was scanned")

        monkeypatch.setattr(contain, "session_states", no_scan)
        # init, the worker, the one that left the group, the orphan, the zombie leader
        assert len(view.states()) >= 5, view.states()
        # Only the one that left the group needs a SIGCONT of its own (the group's reaches the rest).
        assert len(view.outside_group()) == 1, view.outside_group()
        for round_ in range(2):
            contain.signal_session(proc.pid, signal.SIGSTOP, members=view)
            # Every process of the candidate's stopped; the namespace's first process (1) and the
            # launcher, contain.py's own, continued once all had stopped (contain.KEEPERS_RUN).
            threads = {pid: s for pid, s in _thread_states(init).items() if pid != 1}
            assert threads and all(s <= {"T", "t"} for s in threads.values()), (round_, threads)
            assert all(s in ("T", "t") for pid, s in view.states().items() if pid != 1)
            assert _keepers_run(proc, init), (_state(f"/proc/{proc.pid}/stat"), _state(f"/proc/{init}/stat"))
            contain.signal_session(proc.pid, signal.SIGCONT, members=view)

            def running() -> int:
                return sum("R" in s for s in _thread_states(init).values())

            end = time.monotonic() + allow(10)
            while running() < 3 + round_ and time.monotonic() < end:
                time.sleep(0.02)
            assert running() >= 3 + round_, _thread_states(init)
            proc.stdin.write(b"one more\n")  # an orphan started after the view was opened
            proc.stdin.flush()
            assert proc.stdout.readline().strip() == b"ready"
        assert len(view.states()) >= 7
    finally:
        view.close()
        os.kill(init, signal.SIGKILL)
        proc.kill()
        proc.wait(timeout=allow(10))
    assert view.states() == {}  # closed: nothing found, nothing reused


def test_registered_views_are_used_and_dropped(monkeypatch) -> None:
    from kernelswarm.evaluate.parent import guard

    proc, init = _contained()
    try:
        scanned = guard.resident(proc.pid)  # the machine's /proc: the launcher's too
        assert members.register(proc.pid, init) == ""
        assert members.view_of(proc.pid) is not None
        real = contain.session_states
        monkeypatch.setattr(contain, "session_states", lambda sid: {} if sid == proc.pid else real(sid))
        listed = guard.resident(proc.pid)  # the namespace's processes, every one of the candidate's
        assert 0.5 * scanned < listed <= scanned, (listed, scanned)
        from kernelswarm.evaluate.parent.devicelock import signal_group

        signal_group(proc.pid, signal.SIGSTOP)
        states = members.view_of(proc.pid).states()
        assert len(states) >= 5 and all(s in ("T", "t") for pid, s in states.items() if pid != 1), states
        assert _keepers_run(proc, init)  # the view was registered with its launcher
        signal_group(proc.pid, signal.SIGCONT)
    finally:
        members.unregister(proc.pid)
        os.kill(init, signal.SIGKILL)
        proc.kill()
        proc.wait(timeout=allow(10))
    assert members.view_of(proc.pid) is None


def test_a_namespace_that_kept_the_machines_proc_is_refused() -> None:
    """A process in a new PID namespace that still sees the machine's /proc: its view would list
    the machine's processes under the wrong numbers, so the session scan stays."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs unshare(1) as root")
    outer = subprocess.Popen(["unshare", "--pid", "--fork", "sleep", "60"], start_new_session=True)
    try:
        end = time.monotonic() + allow(10)
        init = None
        while init is None and time.monotonic() < end:
            try:
                kids = Path(f"/proc/{outer.pid}/task/{outer.pid}/children").read_text().split()
                init = int(kids[0]) if kids else None
            except OSError:
                break
            time.sleep(0.02)
        if init is None:
            pytest.skip("unshare --pid did not start a namespace here")
        with pytest.raises(OSError):
            members.NamespaceView(init)
        assert members.register(outer.pid, init) != ""
        assert members.view_of(outer.pid) is None
    finally:
        outer.kill()
        outer.wait()
