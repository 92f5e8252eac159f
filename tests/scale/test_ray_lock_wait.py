"""A Ray actor kept waiting by another kernelswarm process's hold on its device: the wait (how
long, and whose hold) reaches the supervisor, its progress events and the store."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from loadslack import allow
from scale_fakes import LINEAR
from test_ray import Copies, _in_flight

from kernelswarm import locks
from kernelswarm.problems.load import load_problem
from kernelswarm.store import Store
from kernelswarm.supervisor import RunConfig

SRC = str(Path(__file__).parents[2] / "src")
_HOLD = ("import sys, time; from kernelswarm.locks import device_lock; l = device_lock('cpu');"
         " l.acquire(); print('held', flush=True); time.sleep(float(sys.argv[1]))")


def _hold_cpu(seconds: float) -> subprocess.Popen:
    """Another kernelswarm process on this machine holding the CPU's device lock for `seconds`."""
    p = subprocess.Popen([sys.executable, "-c", _HOLD, str(seconds)], stdout=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHONPATH": SRC})
    assert p.stdout.readline().strip() == "held"
    return p


@pytest.mark.slow
def test_a_ray_actor_that_waited_for_the_device_says_how_long_and_for_whom(tmp_path: Path, capfd) -> None:
    ray = pytest.importorskip("ray")
    from kernelswarm.scale.placement import run_placed
    from kernelswarm.scale.ray_pool import ActorPool, connect, ray_slots

    temp = tempfile.mkdtemp(prefix="ksray", dir="/tmp")
    connect("local", num_cpus=1, temp_dir=temp)
    # Ray's warning that a local cluster keeps token authentication on stays off the progress lines.
    assert "Token authentication" not in capfd.readouterr().err
    holders: list[subprocess.Popen] = []
    try:
        pool = ActorPool("cpu", jobs=1, cpu_threads=1, count=1)
        store = Store(tmp_path / "k.db")
        config = RunConfig(device="cpu", agents=["copies"], compile_baseline=False, timeout_s=600)
        events = []

        def end_when_waited_on(holder: subprocess.Popen, method: str) -> None:
            """The holder lets go 1.5 s after the actor has started `method` (and so waits for it)."""
            def watch() -> None:
                while holder.poll() is None and _in_flight(ray, pool.actors[0], method) == 0:
                    time.sleep(0.1)
                time.sleep(1.5)
                holder.send_signal(signal.SIGKILL)

            threading.Thread(target=watch, daemon=True).start()

        def on_event(e) -> None:
            events.append(e)
            if e.kind == "baselines":  # the candidates are next: another process takes the device first
                holders.append(_hold_cpu(600))
                end_when_waited_on(holders[-1], "evaluate")

        holders.append(_hold_cpu(600))  # and it holds the device when the baselines start
        end_when_waited_on(holders[-1], "time_baselines")
        run_id = run_placed(store, config, [Copies()], ray_slots(pool), [load_problem(Path(LINEAR))],
                            on_event=on_event)
        first, second = (f"pid {p.pid}" for p in holders)
        notes = [e.message for e in events if e.kind == "note"]
        assert any(n.startswith("baselines waited") and first in n for n in notes), notes
        waited = [e.evaluation for e in events if e.kind == "evaluated" and e.evaluation.lock_holder]
        assert waited and all(second in ev.lock_holder for ev in waited), [e.evaluation for e in events if e.kind == "evaluated"]
        assert waited[0].lock_wait_s > 1.0, waited[0].lock_wait_s
        rows = [r for r in store.candidates(run_id) if r.lock_holder]
        assert [r.lock_wait_s for r in rows] == [ev.lock_wait_s for ev in waited]
        assert store.lock_waits(run_id) == (len(waited), pytest.approx(sum(ev.lock_wait_s for ev in waited)))
        # The actor, last to hold the device, is named in its lock file as what it is, not by Ray's
        # worker command line: what another kernelswarm process kept waiting by it is told.
        held = (locks.lock_dir() / "device-cpu.lock").read_text()
        assert held == f"pid {pool.places[0]['pid']} (a kernelswarm Ray actor of pid {os.getpid()} on {socket.gethostname()})\n"
    finally:
        for p in holders:
            p.send_signal(signal.SIGKILL)
            p.wait(allow(10))
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
