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


def test_memory_no_process_maps_is_bounded(monkeypatch) -> None:
    """Memfds written and never mapped, and a detached System V segment (adv17): 2 x 1.2 GiB that
    were in no resident set; the worker itself holds about 0.4 GiB here."""
    monkeypatch.setenv("KERNELSWARM_MEMORY_MB", "1536")
    monkeypatch.setenv("KERNELSWARM_TEST_HOARD_MIB", "1280")
    source = (CANDIDATES / "isolation" / "memfd_hoard.py").read_text()
    ev = evaluate(load_problem(PROBLEMS / "relu_linear.py"), source, _options())
    assert ev.verdict is Verdict.REJECTED, (ev.verdict, ev.reason)
    assert "memory" in ev.reason and "resources" in [c.name for c in ev.checks if not c.passed], ev.reason


def test_files_deleted_while_held_open_count_with_the_folder(monkeypatch) -> None:
    """A file in the worker's folder deleted while held open (adv17): 512 MiB past a 256 MiB bound
    that no walk of the folder found."""
    monkeypatch.setenv("KERNELSWARM_DISK_MB", "256")
    source = (CANDIDATES / "isolation" / "unlinked_disk_fill.py").read_text()
    ev = evaluate(load_problem(PROBLEMS / "relu_linear.py"), source, _options())
    assert ev.verdict is Verdict.REJECTED, (ev.verdict, ev.reason)
    assert "folder grew" in ev.reason and "resources" in [c.name for c in ev.checks if not c.passed], ev.reason


def test_files_past_the_path_limit_count_with_the_folder(monkeypatch) -> None:
    """512 MiB at the end of a chain of folders whose path is longer than the system's limit
    (adv17): a walk by path could not open it."""
    monkeypatch.setenv("KERNELSWARM_DISK_MB", "256")
    source = (CANDIDATES / "isolation" / "deep_disk_fill.py").read_text()
    ev = evaluate(load_problem(PROBLEMS / "relu_linear.py"), source, _options())
    assert ev.verdict is Verdict.REJECTED, (ev.verdict, ev.reason)
    assert "folder" in ev.reason and "resources" in [c.name for c in ev.checks if not c.passed], ev.reason


def test_walk_reaches_past_the_path_limit_and_bounds_nesting(tmp_path: Path) -> None:
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(20):  # 5 KB of path
            os.mkdir("d" * 250, dir_fd=fd)
            nxt = os.open("d" * 250, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nxt
        out = os.open("f", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd)
        os.write(out, b"x" * (4 << 20))
        os.fsync(out)
        os.close(out)
    finally:
        os.close(fd)
    used, unseen = guard.walk(tmp_path)
    assert used >= 4 << 20 and unseen is None
    deep = tmp_path / "deep"
    deep.mkdir()
    fd = os.open(deep, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(guard.MAX_NEST + 2):
            os.mkdir("n", dir_fd=fd)
            nxt = os.open("n", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nxt
    finally:
        os.close(fd)
    assert "deeper" in (guard.walk(deep)[1] or "")
    assert guard.walk(tmp_path / "absent") == (0, None)


def test_unlinked_counts_memfds_held_open() -> None:
    code = ("import os, time\nfd = os.memfd_create('x')\nos.write(fd, b'x' * (64 << 20))\n"
            "open('/dev/null').close()\nprint('ready', flush=True)\ntime.sleep(30)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        assert sum(guard.unlinked(proc.pid).values()) >= 64 << 20
        assert guard.resident(proc.pid) >= 64 << 20
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()


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
