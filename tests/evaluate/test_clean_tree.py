"""A clean worker's stops find its processes in its own process tree (members.TreeView), not by
scanning the machine's /proc (issue 16): the same processes as the session scan finds for a
worker that starts children and grandchildren, all stopped and continued, in a read per process
of its own instead of one per process of the machine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from loadslack import allow

from kernelswarm.evaluate.parent import members
from kernelswarm.evaluate.parent.devicelock import signal_group
from kernelswarm.evaluate.worker import contain

# A session leader with a child and a grandchild (in a group of its own), and a child whose main thread exits while another
# thread sleeps (a zombie leader of live threads); prints "ready", then sleeps.
_TREE = r"""
import ctypes, os, threading, time
if os.fork() == 0:
    if os.fork() == 0:
        os.setpgid(0, 0)  # leaves the group: the group's signal misses it
        time.sleep(600)
    time.sleep(600)
if os.fork() == 0:
    threading.Thread(target=time.sleep, args=(600,)).start()
    time.sleep(0.1)
    ctypes.CDLL(None).pthread_exit(None)
time.sleep(0.3)
print("ready", flush=True)
time.sleep(600)
"""


def _stopped(states: dict[int, str]) -> bool:
    return all(s in ("T", "t") for s in states.values())


def test_a_clean_workers_tree_holds_what_the_session_scan_finds_and_is_stopped_whole() -> None:
    leader = subprocess.Popen([sys.executable, "-c", _TREE], stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert leader.stdout.readline().strip() == b"ready"
        view = members.TreeView(leader.pid)
        tree, scanned = view.states(), contain.session_states(leader.pid)
        assert len(tree) == 4 and tree.keys() == scanned.keys(), (tree, scanned)
        assert len(view.outside_group()) == 1, view.outside_group()  # the grandchild only
        assert members.register_clean(leader.pid) == ""
        assert isinstance(members.view_of(leader.pid), members.TreeView)
        signal_group(leader.pid, signal.SIGSTOP)
        assert _stopped(contain.session_states(leader.pid))  # every one, as the scan sees them
        signal_group(leader.pid, signal.SIGCONT)
        end = time.monotonic() + allow(5)
        while _stopped(contain.session_states(leader.pid)) and time.monotonic() < end:
            time.sleep(0.02)
        assert not any(s in ("T", "t") for s in contain.session_states(leader.pid).values())
    finally:
        members.unregister(leader.pid)
        contain.kill_session(leader.pid)
        leader.wait(timeout=allow(10))
    assert members.view_of(leader.pid) is None
    assert members.TreeView(os.getpid()).states()  # this process's own tree: itself at least


def test_a_gone_worker_has_no_processes_and_a_missing_one_no_view() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE,
                            start_new_session=True)
    view = members.TreeView(proc.pid)
    assert list(view.states()) == [proc.pid]
    proc.stdin.close()
    proc.wait(timeout=allow(10))
    assert view.states() == {}
    assert members.register_clean(proc.pid) != ""  # gone: refused, the scan stays
    assert members.view_of(proc.pid) is None
