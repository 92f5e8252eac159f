"""confine.py: a confined process keeps no capability and cannot leave its session."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SRC = str(Path(__file__).parents[2] / "src")

_PROBE = """
import os, subprocess, sys
from kernelswarm.evaluate.worker import confine
print("confined:", confine.confine())
def attempt(name, fn):
    try:
        fn()
        print(name, "ok", flush=True)
    except OSError as e:
        print(name, "refused", e.errno, flush=True)
attempt("setsid", os.setsid)
attempt("setsid-popen", lambda: subprocess.run(["true"], start_new_session=True))
pid = os.fork()
if pid == 0:
    attempt("child-setsid", os.setsid)
    os._exit(0)
os.waitpid(pid, 0)
print("child ran")
attempt("setpgid", lambda: os.setpgid(0, 0))
import socket
attempt("unix-socket", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
attempt("udp-socket", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
attempt("socketpair", lambda: socket.socketpair())
import resource
attempt("own-nice", lambda: os.setpriority(os.PRIO_PROCESS, 0, 1))
attempt("own-affinity", lambda: os.sched_setaffinity(0, os.sched_getaffinity(0)))
attempt("own-limit", lambda: resource.setrlimit(resource.RLIMIT_CORE, (0, 0)))
attempt("user-nice", lambda: os.setpriority(os.PRIO_USER, 0, 19))
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
def sysv(name, *args):
    if getattr(libc, name)(*args) < 0:
        raise OSError(ctypes.get_errno(), name)
attempt("shmget", lambda: sysv("shmget", 0, ctypes.c_size_t(1 << 20), 0o1600))
attempt("msgget", lambda: sysv("msgget", 0, 0o1600))
attempt("memfd", lambda: os.close(os.memfd_create("x")))
print([l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")][0])
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")
def test_confined_process_keeps_its_session_and_no_capabilities() -> None:
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"})
    lines = out.stdout.splitlines()
    assert out.returncode == 0, out.stderr
    assert "setsid refused 1" in lines and "setsid-popen refused 1" in lines and "child-setsid refused 1" in lines
    assert "setpgid ok" in lines and "child ran" in lines  # build tools (ninja) still work
    # No socket reaches a host service (issue 14); a connected pair reaches nothing outside.
    assert "unix-socket refused 1" in lines and "udp-socket refused 1" in lines and "socketpair ok" in lines
    # Its own priority, affinity and limits stay its own to set; every process of its user's not.
    assert "own-nice ok" in lines and "own-affinity ok" in lines and "own-limit ok" in lines
    assert "user-nice refused 1" in lines
    # Memory no process maps (adv17: cheat/isolation/memfd_hoard): no System V segments or
    # queues; memfds stay (the worker's own outputs travel in them), counted by guard.unlinked.
    assert "shmget refused 1" in lines and "msgget refused 1" in lines and "memfd ok" in lines
    assert lines[-1] == "0000000000000000"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")
def test_sockets_kept_only_when_asked() -> None:
    """Nsight Compute's profiling worker keeps sockets (confine(sockets=True))."""
    probe = _PROBE.replace("confine.confine()", "confine.confine(sockets=True)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"})
    lines = out.stdout.splitlines()
    assert out.returncode == 0, out.stderr
    assert "unix-socket ok" in lines and "udp-socket ok" in lines and "setsid refused 1" in lines


# Another process of the same user, without capabilities (as root, commoncap alone refuses a
# process with fewer capabilities than its target): nice 19, SCHED_IDLE, another core, its limits.
_NEIGHBOUR = """
import os, resource, subprocess, sys
victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
try:
    from kernelswarm.evaluate.worker import confine
    if sys.argv[1] == "confined":
        confine.confine()
    for name, fn in (("nice", lambda: os.setpriority(os.PRIO_PROCESS, victim.pid, 19)),
                     ("idle", lambda: os.sched_setscheduler(victim.pid, os.SCHED_IDLE, os.sched_param(0))),
                     ("affinity", lambda: os.sched_setaffinity(victim.pid, {min(os.sched_getaffinity(0))})),
                     ("limit", lambda: resource.prlimit(victim.pid, resource.RLIMIT_CORE, (0, 0)))):
        try:
            fn()
            print(name, "ok", flush=True)
        except OSError as e:
            print(name, "refused", e.errno, flush=True)
finally:
    victim.kill()
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")
def test_other_processes_scheduling_is_not_the_candidates(tmp_path: Path) -> None:
    """Issue 14: without a PID namespace a candidate could lower the priority of the clean worker
    that times the reference (cheat/renice_reference). Run as a user without capabilities."""
    import os
    import shutil

    argv = [sys.executable, "-c", _NEIGHBOUR]
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("root without setpriv: no capability-free user to run as")
        argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *argv]
    env = {"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    free = subprocess.run([*argv, "free"], capture_output=True, text=True, timeout=120, env=env, cwd="/")
    if "nice ok" not in free.stdout.splitlines():
        pytest.skip(f"this system refuses it anyway: {free.stdout or free.stderr}"[:300])
    out = subprocess.run([*argv, "confined"], capture_output=True, text=True, timeout=120, env=env, cwd="/")
    lines = out.stdout.splitlines()
    assert out.returncode == 0, out.stderr
    assert all(f"{n} refused 1" in lines for n in ("nice", "idle", "affinity", "limit")), out.stdout
