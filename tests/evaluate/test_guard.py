"""Bounds on what a candidate's processes use together (parent/guard.py, issue 14): the disk in
their folder (cheat/disk_fill, a fixture) and memory, held by children each under the per-process
limit (isolation/memory_hoard, evaluated here under a small bound)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from fixtures import CANDIDATES, PROBLEMS

from kernelswarm.evaluate import EvalOptions, evaluate
from kernelswarm.evaluate.parent import guard
from kernelswarm.problems import load_problem
from kernelswarm.records import Verdict


def _options() -> EvalOptions:
    return EvalOptions.for_device("cpu", timeout_s=240.0, static_screen=False, timed_calls=10, min_timing_s=0.0,
                                  max_timed_calls=20, cpu_threads=1)


def test_memory_held_by_forked_children_is_bounded(monkeypatch) -> None:
    monkeypatch.setenv("KERNELSWARM_MEMORY_MB", "1536")
    source = (CANDIDATES / "isolation" / "memory_hoard.py").read_text()
    ev = evaluate(load_problem(PROBLEMS / "relu_linear.py"), source, _options())
    assert ev.verdict is Verdict.REJECTED, (ev.verdict, ev.reason)
    assert "memory" in ev.reason and "resources" in [c.name for c in ev.checks if not c.passed], ev.reason


def test_resident_counts_every_process_of_a_session() -> None:
    code = "import os, time\nheld = b'x' * (64 << 20)\nos.fork()\ntime.sleep(30)\n"
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    try:
        end = time.monotonic() + 20
        while guard.resident(proc.pid) < 2 * (64 << 20) and time.monotonic() < end:
            time.sleep(0.2)
        assert guard.resident(proc.pid) >= 2 * (64 << 20)
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()


def test_bounds_read_their_overrides(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KERNELSWARM_MEMORY_MB", "100")
    monkeypatch.setenv("KERNELSWARM_DISK_MB", "50")
    assert guard.memory_bound(1 << 40) == 100 << 20 and guard.limit_bytes() == 50 << 20
    monkeypatch.delenv("KERNELSWARM_MEMORY_MB")
    assert guard.memory_bound(1 << 30) == 1 << 30 and guard.memory_bound(None) > 0
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f").write_bytes(b"x" * (1 << 20))
    assert guard.usage(tmp_path) >= 1 << 20
