"""A run's screen beside other work (issue 16): stopped while any timing holds the device, and
screened again holding it when what it found could be the moment's (a failure to run)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from kernelswarm.evaluate.parent.devicelock import DeviceLock
from kernelswarm.problems import screened
from kernelswarm.problems.load import load_problem


@pytest.fixture(autouse=True)
def _own_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERNELSWARM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("KERNELSWARM_LOCK_DIR", str(tmp_path / "locks"))


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def test_screen_beside_is_stopped_while_a_timing_holds_the_device(fixtures: Path) -> None:
    problem = load_problem(fixtures / "folder" / "level1" / "relu.py")
    lock = DeviceLock()
    pids: list[int] = []
    register = lock.register

    def noting(pgid: int) -> None:
        pids.append(pgid)
        register(pgid)

    lock.register = noting  # type: ignore[method-assign]
    out: dict[str, list[str]] = {}
    screen = threading.Thread(target=lambda: out.update(flags=screened.screen_for_run(problem, "cpu", lock, beside=True)))
    with lock.exclusive("a timing"):
        screen.start()
        end = time.monotonic() + 60
        while not pids and time.monotonic() < end:
            time.sleep(0.05)
        assert pids, "the screen's process was never registered with the run's lock"
        time.sleep(1.0)  # long enough for an unstopped child to import torch and get going
        assert _state(pids[0]) == "T" and screen.is_alive()  # stopped, for as long as the timing holds
    screen.join(300)
    assert not screen.is_alive() and out["flags"] == []
    assert _state(pids[0]) == "gone" and screened.cached_flags(problem, "cpu") is not None
    assert [what for what, _, _ in lock.holds] == ["a timing"]  # it never held the device itself


def test_a_failure_beside_is_screened_again_holding_the_device(fixtures: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    problem = load_problem(fixtures / "folder" / "level1" / "relu.py")
    lock = DeviceLock()
    seen: list[tuple[bool, bool]] = []  # (registered with the lock, the device held by this thread)

    def child(problem, device, timeout_s, gpu, lock_=None):
        seen.append((lock_ is not None, lock._owner == threading.get_ident()))
        return (["fails to run: RuntimeError: out of memory"], True) if lock_ is not None else ([], True)

    monkeypatch.setattr(screened, "_screen_in_child", child)
    assert screened.screen_for_run(problem, "cpu", lock, beside=True) == []
    assert seen == [(True, False), (False, True)]
    assert [what for what, _, _ in lock.holds] == ["screen"]
    # Not beside (--jobs 1): one screen, holding the device.
    seen.clear()
    monkeypatch.setattr(screened, "cached_flags", lambda problem, device: None)
    assert screened.screen_for_run(problem, "cpu", lock) == []
    assert seen == [(False, True)]
