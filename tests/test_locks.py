"""Locks between kernelswarm processes: one writer per store, one judge per device."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from html import escape
from pathlib import Path

import pytest
from loadslack import allow
from typer.testing import CliRunner

from kernelswarm import locks
from kernelswarm.cli import app
from kernelswarm.store import Store, StoreBusy

SRC = str(Path(__file__).parents[1] / "src")
LINEAR = str(Path(__file__).parent / "fixtures" / "swarm" / "problems" / "tiny_linear.py")

_HOLD_STORE = "import sys, time; from kernelswarm.store import Store; s = Store(sys.argv[1]); print('held', flush=True); time.sleep(600)"
_HOLD_DEVICE = ("import sys, time; from kernelswarm.locks import device_lock; l = device_lock(sys.argv[1]);"
                " l.acquire(); print('held', flush=True); time.sleep(float(sys.argv[2]))")


def _holder(code: str, *args: str) -> subprocess.Popen:
    """Another process that takes a lock and says so."""
    env = {**os.environ, "PYTHONPATH": SRC}
    p = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True, env=env)
    assert p.stdout.readline().strip() == "held"
    return p


def _end(p: subprocess.Popen) -> None:
    p.send_signal(signal.SIGKILL)
    p.wait(allow(10))


def test_a_second_writer_is_refused_at_once_naming_the_first(tmp_path: Path, monkeypatch) -> None:
    db = tmp_path / "k.db"
    Store(db).close()
    other = _holder(_HOLD_STORE, str(db))
    try:
        started = time.monotonic()
        with pytest.raises(StoreBusy, match=f"pid {other.pid}"):
            Store(db)
        assert time.monotonic() - started < allow(2.0)  # detected at once, not after SQLite's busy wait
        monkeypatch.chdir(tmp_path)
        res = CliRunner().invoke(app, ["run", LINEAR, "--db", "k.db", "--agents", "eager"])
        assert res.exit_code == 2 and f"pid {other.pid}" in res.output and "Traceback" not in res.output
        assert len(res.output.strip().splitlines()) == 1, res.output
        assert Store(db, read_only=True).list_runs() == []  # readers are never refused; nothing was written
    finally:
        _end(other)
    Store(db).close()  # the holder died by SIGKILL: its lock died with it


def test_threads_of_one_process_share_its_hold(tmp_path: Path) -> None:
    lock = locks.lock_at(tmp_path / "x.lock")
    lock.acquire()
    t = threading.Thread(target=lambda: (lock.acquire(wait=False), lock.release()))
    t.start()
    t.join(allow(5))
    assert lock.held
    lock.release()
    assert not lock.held


def test_the_device_lock_is_machine_wide_and_names_its_holder(tmp_path: Path) -> None:
    other = _holder(_HOLD_DEVICE, "cpu", "1.0")
    try:
        mine = locks.device_lock("cpu")
        with pytest.raises(locks.Busy, match=f"pid {other.pid}"):
            mine.acquire(wait=False)
        told: list[str] = []
        started = time.monotonic()
        with mine.hold(on_wait=told.append):  # waits until the other process lets go
            assert time.monotonic() - started > 0.3
        assert told and f"pid {other.pid}" in told[0]
        assert not mine.held
        with locks.device_lock("cuda:0").hold():  # another device is another lock
            pass
    finally:
        _end(other)


def test_device_keys_name_the_physical_device(monkeypatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert [locks.device_key(d) for d in ("cpu", "cuda", "cuda:1")] == ["cpu", "cuda:0", "cuda:1"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,GPU-8c1e")
    assert [locks.device_key(d) for d in ("cuda", "cuda:1")] == ["cuda:2", "cuda:GPU-8c1e"]
    # An evaluation placed on one GPU (EvalOptions.gpu: its CUDA_VISIBLE_DEVICES entry) locks that GPU.
    assert locks.device_lock("cuda", "GPU-8c1e").path.name == "device-cuda_GPU-8c1e.lock"
    assert locks.device_lock("cpu", "3").path.name == "device-cpu.lock"


def test_a_run_waits_for_another_process_judging_on_its_device(tmp_path: Path) -> None:
    """The supervisor holds the device lock around each evaluation and baseline: while another
    kernelswarm process holds it, nothing is timed, and the wait is a note naming the holder."""
    from test_supervisor import FakeEvaluator, ScriptedAgent, _problems, fake_baselines

    from kernelswarm.supervisor import RunConfig, Supervisor

    other = _holder(_HOLD_DEVICE, "cpu", "600")
    timed_at: list[float] = []
    ended: list[float] = []

    def baselines(*args, **kw):
        timed_at.append(time.monotonic())
        return fake_baselines()(*args, **kw)

    def on_event(e) -> None:
        notes.append(e.message)
        if e.kind == "note" and "waiting for cpu" in e.message:  # the run is blocked now: end the other process
            threading.Timer(0.5, lambda: (ended.append(time.monotonic()), _end(other))).start()

    notes: list[str] = []
    sup = Supervisor(Store(tmp_path / "k.db"), RunConfig(device="cpu"), [ScriptedAgent("a", {0: ["ms=5.0"]})],
                     FakeEvaluator(), baselines, on_event)
    try:
        sup.run(_problems()[:1])
    finally:
        _end(other)
    assert any(f"waiting for cpu: pid {other.pid}" in n for n in notes), notes
    assert ended and timed_at and timed_at[0] >= ended[0]  # nothing was timed while the other held the device


def test_eval_waits_for_the_device_and_says_so(tmp_path: Path) -> None:
    evaluate_dir = Path(__file__).parent / "evaluate"
    other = _holder(_HOLD_DEVICE, "cpu", "600")
    env = {**os.environ, "PYTHONPATH": SRC, "KERNELSWARM_CACHE": str(tmp_path / "cache"), "KERNELSWARM_CPU_THREADS": "1"}
    ev = subprocess.Popen([sys.executable, "-m", "kernelswarm", "eval", str(evaluate_dir / "problems" / "relu_linear.py"),
                           str(evaluate_dir / "candidates" / "correct" / "same_ops.py"), "--device", "cpu", "--json"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = ev.stderr.readline()  # said before it blocks: nothing is judged while the other holds the device
        assert f"waiting for cpu: pid {other.pid}" in first
        assert ev.poll() is None
    finally:
        _end(other)
    out, err = ev.communicate(timeout=allow(600))
    assert ev.returncode in (0, 1), err  # judged once the device was free (the verdict is not this test's)
    assert '"verdict": ' in out


def test_a_hold_says_how_long_it_waited_and_for_whom(tmp_path: Path) -> None:
    mine = locks.device_lock("cpu")
    with mine.hold() as free:  # nobody else held it: no wait to tell
        assert free == locks.LockWait()
    other = _holder(_HOLD_DEVICE, "cpu", "1.0")
    behind: list[locks.LockWait] = []
    try:
        def second_thread() -> None:  # waits behind this process's own blocked take
            with mine.hold() as w:
                behind.append(w)

        with mine.hold() as waited:
            t = threading.Thread(target=second_thread)
            t.start()
            t.join(allow(5))
        assert f"pid {other.pid}" in waited.holder and waited.seconds > 0.3, waited
        assert behind == [locks.LockWait()]  # started while this process held it: nothing lost
        other2 = _holder(_HOLD_DEVICE, "cpu", "1.0")
        results: list[locks.LockWait] = []
        threads = [threading.Thread(target=lambda: results.append(mine.acquire())) for _ in range(2)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(allow(10))
        mine.release()
        mine.release()
        # Both threads of this process lost the time to the other process, whichever blocked in flock.
        assert len(results) == 2 and all(f"pid {other2.pid}" in r.holder and r.seconds > 0.3 for r in results), results
    finally:
        _end(other)
    _end(other2)


def test_an_evaluation_that_waited_for_another_process_says_so(tmp_path: Path) -> None:
    """An evaluation kept waiting by another kernelswarm process's hold on the device carries how
    long and for whom: in the progress line, the store, and the report (device line, attempt)."""
    from test_supervisor import FakeEvaluator, ScriptedAgent, _problems, fake_baselines

    from kernelswarm.cli.run_cmd import _Progress
    from kernelswarm.report.data import report_data_from_store
    from kernelswarm.report.html import render_html
    from kernelswarm.supervisor import RunConfig, Supervisor

    others: list[subprocess.Popen] = []
    events = []

    def on_event(e) -> None:
        events.append(e)
        if e.kind == "baselines":  # the baselines are timed: another process takes the device for 1.5 s
            others.append(_holder(_HOLD_DEVICE, "cpu", "1.5"))

    config = RunConfig(device="cpu")
    db = tmp_path / "k.db"
    sup = Supervisor(Store(db), config, [ScriptedAgent("a", {0: ["ms=5.0"]})], FakeEvaluator(), fake_baselines(), on_event)
    try:
        run_id = sup.run(_problems()[:1])
    finally:
        for p in others:
            _end(p)
    [ev] = [e.evaluation for e in events if e.kind == "evaluated"]
    assert ev.lock_wait_s > 0.5 and f"pid {others[0].pid}" in ev.lock_holder, (ev.lock_wait_s, ev.lock_holder)
    line = _Progress(config)._line(next(e for e in events if e.kind == "evaluated"))
    assert f"waited {ev.lock_wait_s:.1f} s for the device: pid {others[0].pid}" in line, line
    sup.store.close()
    [row] = Store(db, read_only=True).candidates(run_id)
    assert row.lock_wait_s == ev.lock_wait_s and row.lock_holder == ev.lock_holder
    data = report_data_from_store(db, run_id)
    assert "1 of them waited" in data.device_line() and "another kernelswarm process" in data.device_line()
    [attempt] = data.problems[0].attempts
    assert attempt.lock_wait.startswith(f"waited {ev.lock_wait_s:.1f} s") and f"pid {others[0].pid}" in attempt.lock_wait
    html = render_html(data)
    assert escape(attempt.lock_wait) in html and "1 of them waited" in html


def test_a_process_can_name_itself_to_those_it_keeps_waiting(tmp_path: Path) -> None:
    code = ("import sys, time; from kernelswarm import locks; locks.name_holder('a kernelswarm Ray actor of pid 1');"
            " locks.device_lock('cpu').acquire(); print('held', flush=True); time.sleep(600)")
    other = _holder(code)
    try:
        with pytest.raises(locks.Busy) as refused:
            locks.device_lock("cpu").acquire(wait=False)
        assert refused.value.holder == f"pid {other.pid} (a kernelswarm Ray actor of pid 1)"
    finally:
        _end(other)


def test_a_wait_with_a_deadline_ends_there_naming_the_holder(tmp_path: Path) -> None:
    other = _holder(_HOLD_DEVICE, "cpu", "60")
    mine = locks.device_lock("cpu")
    behind: list[BaseException] = []
    try:
        def second_thread() -> None:  # waits behind this process's own blocked take: by its own deadline too
            try:
                mine.acquire(until=time.monotonic() + 0.5)
            except locks.LockTimeout as e:
                behind.append(e)

        t = threading.Thread(target=second_thread)
        started = time.monotonic()
        with pytest.raises(locks.LockTimeout, match=f"still held by pid {other.pid}") as refused:
            t.start()
            with mine.hold(until=started + 1.0):
                pytest.fail("held while another process had it")
        took = time.monotonic() - started
        t.join(allow(5))
        assert 1.0 <= took < 1.0 + allow(1.0) and refused.value.waited_s >= 0.9, took
        assert len(behind) == 1 and not mine.held
    finally:
        _end(other)
    with mine.hold(until=time.monotonic() - 1.0) as free:  # free: taken even past the instant
        assert free == locks.LockWait() and mine.held


def test_a_run_with_a_deadline_never_waits_past_it_for_the_device(tmp_path: Path) -> None:
    """Optimize's time budget (Supervisor.deadline) bounds the wall time: the wait for another
    process's hold on the device counts against it. Baselines not begun by then fail 'not measured
    by the deadline' (a resumed run measures them), an evaluation not begun is not stored (a
    resumed run judges it), and the run ends within its deadline plus a small margin."""
    from test_supervisor import FakeEvaluator, ScriptedAgent, _problems, fake_baselines

    from kernelswarm.supervisor import RunConfig, Supervisor

    timed: list[str] = []

    def baselines(*args, **kw):
        timed.append("baselines")
        return fake_baselines()(*args, **kw)

    # 1. Held from the start: the baselines are never timed.
    other = _holder(_HOLD_DEVICE, "cpu", "60")
    notes: list[str] = []
    sup = Supervisor(Store(tmp_path / "a.db"), RunConfig(device="cpu"), [ScriptedAgent("a", {0: ["ms=5.0"]})],
                     FakeEvaluator(), baselines, lambda e: notes.append(e.message))
    try:
        started = time.monotonic()
        sup.deadline = started + 2.0
        run_id = sup.run(_problems()[:1])
        took = time.monotonic() - started
    finally:
        _end(other)
    assert took < 2.0 + allow(1.5), took
    assert timed == []
    [row] = sup.store.problem_rows(run_id)
    assert row["eager"] is None and "not measured by the deadline" in row["baseline_error"]
    assert f"pid {other.pid}" in row["baseline_error"], row["baseline_error"]
    sup.store.close()

    # 2. Taken by another process once the baselines are timed: the evaluation is not started.
    others: list[subprocess.Popen] = []
    events = []

    def on_event(e) -> None:
        events.append(e)
        if e.kind == "baselines":
            others.append(_holder(_HOLD_DEVICE, "cpu", "60"))

    evaluator = FakeEvaluator()
    sup = Supervisor(Store(tmp_path / "b.db"), RunConfig(device="cpu"), [ScriptedAgent("a", {0: ["ms=5.0"]})],
                     evaluator, fake_baselines(), on_event)
    try:
        started = time.monotonic()
        sup.deadline = started + allow(3.0)
        run_id = sup.run(_problems()[:1])
        took = time.monotonic() - started
    finally:
        for p in others:
            _end(p)
    assert took < sup.deadline - started + allow(1.5), took
    assert evaluator.calls == []
    said = [e.message for e in events if e.kind == "note" and "not evaluated by the deadline" in e.message]
    assert len(said) == 1 and f"pid {others[0].pid}" in said[0], [e.message for e in events]
    [cand] = sup.store.candidates(run_id)
    assert cand.verdict is None  # nothing stored: a resumed run judges it
