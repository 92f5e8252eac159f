"""Candidate code may write only inside its worker's folder, and signal nothing outside its sandbox.

These are side effects a verdict cannot show: a candidate that rewrites the cached compile baseline
or the store is judged like any other today and wins later. The kernel enforces the limits, so
native code (here through ctypes) is bound too."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fixtures import PROBLEMS
from kernelswarm.evaluate import EvalOptions, evaluate
from kernelswarm.evaluate.worker import sandbox
from kernelswarm.problems import load_problem

pytestmark = pytest.mark.skipif(sandbox.abi() < 1, reason="this kernel has no Landlock")

_SELF_TEST = textwrap.dedent("""
    import ctypes, os, sys
    from kernelswarm.evaluate.worker import sandbox
    inside, outside = sys.argv[1], sys.argv[2]
    print(sandbox.restrict_writes(inside))
    open(os.path.join(inside, "ok.txt"), "w").write("x")
    open("/dev/null", "w").write("x")
    for how in ("python", "native"):
        try:
            if how == "python":
                open(outside, "w").write("x")
            else:
                libc = ctypes.CDLL(None, use_errno=True)
                if libc.open(outside.encode(), os.O_WRONLY | os.O_CREAT, 0o644) < 0:
                    raise PermissionError(ctypes.get_errno(), "native open refused")
            print(how, "WROTE")
        except PermissionError:
            print(how, "refused")
""")


def test_writes_outside_the_folder_are_refused(tmp_path: Path) -> None:
    inside, outside = tmp_path / "worker", tmp_path / "store.db"
    inside.mkdir()
    out = subprocess.run([sys.executable, "-c", _SELF_TEST, str(inside), str(outside)], capture_output=True, text=True,
                         env={"PYTHONPATH": str(Path(sandbox.__file__).parents[2])}, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Landlock ABI" in out.stdout and "python refused" in out.stdout and "native refused" in out.stdout
    assert (inside / "ok.txt").exists() and not outside.exists()


_CANDIDATE = '''
import ctypes, os, signal
import torch
import torch.nn as nn

TARGETS = {targets!r}
tried = []
for path in TARGETS:  # what a hostile candidate would rewrite: the cached baselines, the store
    try:
        with open(path, "w") as f:
            f.write('{{"p4|...": {{"median_ms": 1000.0}}}}')
        tried.append(path)
    except OSError:
        pass
try:
    os.kill(os.getppid(), signal.SIGWINCH)  # the evaluator: harmless here, but it must not arrive
except OSError:
    pass


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        return torch.relu(self.lin(x))
'''


def test_a_candidate_cannot_touch_the_evaluators_files_or_signal_it(tmp_path: Path, monkeypatch) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("KERNELSWARM_CACHE", str(cache))
    baselines, store = cache / "baselines.json", tmp_path / "kernelswarm.db"
    baselines.write_text("{}")
    received: list[int] = []
    previous = signal.signal(signal.SIGWINCH, lambda n, f: received.append(n))
    try:
        source = _CANDIDATE.format(targets=[str(baselines), str(store)])
        ev = evaluate(load_problem(PROBLEMS / "relu_linear.py"), source,
                      EvalOptions.for_device("cpu", static_screen=False, timed_calls=10, min_timing_s=0.0,
                                             max_timed_calls=20, cpu_threads=1))
    finally:
        signal.signal(signal.SIGWINCH, previous)
    check = next(c for c in ev.checks if c.name == "sandbox")
    assert "Landlock" in check.detail, check.detail
    assert ev.verdict.value == "accepted", ev.reason  # an honest model otherwise: judged as one
    assert baselines.read_text() == "{}" and not store.exists()
    if sandbox.abi() >= 6:
        assert received == [], "the candidate signalled the evaluator"


_TCP_TEST = textwrap.dedent("""
    import socket, sys
    from kernelswarm.evaluate.worker import sandbox
    print(sandbox.restrict_writes(sys.argv[1]))
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=10).close()
        print("CONNECTED")
    except PermissionError:
        print("connect refused")
""")


@pytest.mark.skipif(sandbox.abi() < 4, reason="Landlock before ABI 4 does not govern TCP")
def test_tcp_connections_are_refused(tmp_path: Path) -> None:
    """A service on a TCP port (a Ray cluster's GCS, say) could act outside the sandbox for the
    candidate: it can reach none."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        out = subprocess.run([sys.executable, "-c", _TCP_TEST, str(tmp_path), str(listener.getsockname()[1])],
                             capture_output=True, text=True, timeout=60,
                             env={"PYTHONPATH": str(Path(sandbox.__file__).parents[2])})
    finally:
        listener.close()
    assert out.returncode == 0, out.stderr
    assert "TCP refused" in out.stdout and "connect refused" in out.stdout and "CONNECTED" not in out.stdout
