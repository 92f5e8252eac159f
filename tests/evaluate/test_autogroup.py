"""One scheduling weight for the reference's, the candidate's and the flush worker (issue 13):
each leads its own session, so its own autogroup; under load the one left lighter waited 2.4-4.6x
longer for a core and copies of the reference "won" by it (docs/benchmarks.md, session 12)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures import CANDIDATES, PROBLEMS
from loadslack import allow

from kernelswarm.evaluate import EvalOptions, evaluate
from kernelswarm.evaluate.parent import autogroup
from kernelswarm.problems import load_problem
from kernelswarm.records import Verdict

HAS_AUTOGROUPS = Path("/proc/self/autogroup").exists() and \
    Path("/proc/sys/kernel/sched_autogroup_enabled").exists() and \
    Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
needs_autogroups = pytest.mark.skipif(not HAS_AUTOGROUPS, reason="this kernel schedules no autogroups")


@pytest.fixture
def sessions():
    """Three sleeping processes, each leading its own session (as the workers do)."""
    procs = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
             for _ in range(3)]
    try:
        yield dict(zip(("reference", "candidate", "flush"), (p.pid for p in procs)))
    finally:
        for p in procs:
            p.kill()
            p.wait()


def _may_lower_nice() -> bool:
    return os.geteuid() == 0  # CAP_SYS_NICE, as far as a test can tell without trying


@pytest.mark.parametrize("raw, nice", [("", 0), ("-10", -10), ("0", 0), (" 5 ", 5), ("off", None), ("OFF", None),
                                       ("-20", -20), ("19", 19)])
def test_the_setting(monkeypatch, raw, nice):
    monkeypatch.setenv(autogroup.ENV, raw)
    assert autogroup.requested_nice() == nice


@pytest.mark.parametrize("raw", ["high", "-10.5", "-21", "20", "1e3"])
def test_a_bad_setting_is_one_line(monkeypatch, raw):
    monkeypatch.setenv(autogroup.ENV, raw)
    with pytest.raises(autogroup.BadNice) as e:
        autogroup.requested_nice()
    assert autogroup.ENV in str(e.value) and "\n" not in str(e.value)


@needs_autogroups
def test_three_sessions_get_one_nice(sessions):
    applied = autogroup.equalize(sessions, -10)
    found = {role: autogroup.read_nice(pid) for role, pid in sessions.items()}
    assert len(set(found.values())) == 1, found
    assert applied.equal and applied.nice == found["reference"], applied
    if _may_lower_nice():
        assert applied.nice == -10 and "nice -10 for reference" in applied.detail, applied
    else:
        assert applied.nice == 0 and "could not be written" in applied.detail, applied


@needs_autogroups
def test_a_refused_write_falls_back_to_zero_on_all_three(sessions, monkeypatch):
    """The first worker's group takes the negative nice, the second's is refused (no
    CAP_SYS_NICE, as for an unprivileged user): all three end at 0, and the record says why."""
    real = autogroup.write_nice
    refused = []

    def write(pid: int, nice: int) -> None:
        if nice < 0 and pid != sessions["reference"]:
            refused.append(pid)
            raise PermissionError(errno.EPERM, "Operation not permitted")
        if nice < 0 and not _may_lower_nice():  # pretend the first one took it
            return
        real(pid, nice)

    monkeypatch.setattr(autogroup, "write_nice", write)
    applied = autogroup.equalize(sessions, -7)
    assert refused == [sessions["candidate"]]
    found = {role: autogroup.read_nice(pid) for role, pid in sessions.items()}
    assert set(found.values()) == {0}, found
    assert applied.nice == 0 and applied.requested == -7
    assert "nice 0 for reference, candidate, flush" in applied.detail
    assert "candidate's worker: EPERM: needs CAP_SYS_NICE" in applied.detail, applied.detail


@needs_autogroups
def test_when_nothing_can_be_written_the_record_says_so(sessions, monkeypatch):
    def refuse(pid: int, nice: int) -> None:
        raise OSError(errno.EROFS, "read-only")

    monkeypatch.setattr(autogroup, "write_nice", refuse)
    sessions_at_zero = autogroup.equalize(sessions, 3)
    # All three are fresh sessions at 0: equal, though not what was asked.
    assert sessions_at_zero.nice == 0 and "EROFS" in sessions_at_zero.detail, sessions_at_zero


def test_off_writes_nothing(sessions, monkeypatch):
    def never(pid: int, nice: int) -> None:
        raise AssertionError("written")

    monkeypatch.setattr(autogroup, "write_nice", never)
    assert f"{autogroup.ENV}=off" in autogroup.equalize(sessions, None).detail


def test_a_kernel_without_autogroups(sessions, monkeypatch, tmp_path):
    monkeypatch.setattr(autogroup, "_ENABLED", tmp_path / "absent")
    applied = autogroup.equalize(sessions, -10)
    assert not applied.equal and "no autogroups" in applied.detail


@needs_autogroups
def test_an_evaluations_three_workers_share_one_nice(monkeypatch):
    """Read in a real evaluation, right after the workers start: one nice for all three, and the
    evaluation's `scheduling` check says which."""
    monkeypatch.setenv(autogroup.ENV, "-5")
    real = autogroup.equalize
    seen: dict[str, int | None] = {}

    def spy(pids, requested):
        applied = real(pids, requested)
        seen.update({role: autogroup.read_nice(pid) for role, pid in pids.items()})
        return applied

    monkeypatch.setattr(autogroup, "equalize", spy)
    opts = EvalOptions.for_device("cpu", timeout_s=allow(240), static_screen=False, timed_calls=10, min_timing_s=0.0,
                                  max_timed_calls=20, cpu_threads=1)
    ev = evaluate(load_problem(PROBLEMS / "relu_linear.py"), (CANDIDATES / "correct" / "same_ops.py").read_text(), opts)
    assert set(seen) == {"reference", "candidate", "flush"}
    assert len(set(seen.values())) == 1, seen
    want = -5 if _may_lower_nice() else 0
    assert seen["reference"] == want
    check = next(c for c in ev.checks if c.name == "scheduling")
    assert check.passed and f"all at nice {want}" in check.detail, check.detail
    assert ev.verdict is Verdict.ACCEPTED, ev.reason


def test_eval_refuses_a_bad_setting_in_one_line(tmp_path):
    env = {**os.environ, autogroup.ENV: "very-high", "KERNELSWARM_CACHE": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "kernelswarm", "eval", str(PROBLEMS / "relu_linear.py"),
                        str(CANDIDATES / "correct" / "same_ops.py"), "--device", "cpu"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.strip().count("\n") == 0 and autogroup.ENV in r.stderr, r.stderr
