"""cputime.py: CPU time of a worker's processes read from outside, and the charge for CPU work
done outside the claimed times."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

from kernelswarm.evaluate.parent import cputime


def _burn(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_a_threads_time_counts_after_it_exited() -> None:
    before = cputime.process_cpu_ns(os.getpid())
    t = threading.Thread(target=_burn, args=(0.05,))
    t.start()
    t.join()
    assert cputime.process_cpu_ns(os.getpid()) - before >= 50e6  # the thread is gone, its time is not


def test_the_tree_counts_a_childs_time_and_a_gone_process_is_negative() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time\nend = time.process_time() + 0.3\n"
                              "while time.process_time() < end: pass\ntime.sleep(60)"])
    try:
        deadline = time.monotonic() + 60
        while cputime.process_cpu_ns(child.pid) < 300e6 and time.monotonic() < deadline:
            time.sleep(0.05)
        own = cputime.process_cpu_ns(os.getpid())
        tree = cputime.tree_cpu_ns(os.getpid())
        assert tree - own >= 300e6  # the child's CPU time is in its parent's tree
    finally:
        child.kill()
        child.wait()
    assert cputime.process_cpu_ns(child.pid) == -1 and cputime.tree_cpu_ns(child.pid) == -1


def test_work_outside_the_claims_is_charged_beyond_the_references() -> None:
    ref_claims, ref_cpu = [1.0] * 20, [1.4] * 20  # the reference: 0.4 ms of CPU per call outside its claim
    honest = cputime.judge([1.45] * 20, [1.0] * 20, ref_cpu, ref_claims, threads=1)
    assert honest is not None and honest.charge_ms == 0.0
    # A third of each call's work done where no claim runs (a thread of its own, between requests).
    cheat = cputime.judge([1.4] * 20, [0.6] * 20, ref_cpu, ref_claims, threads=1)
    assert cheat is not None and abs(cheat.charge_ms - (0.4 - cputime.CPU_ALLOW_MS - cputime.CPU_ALLOW_SHARE)) < 1e-9
    # Two cores' work in a claim where one thread was given: charged, as the same work on one core.
    wide = cputime.judge([2.4] * 20, [1.0] * 20, ref_cpu, ref_claims, threads=1)
    assert wide is not None and wide.charge_ms > 0.7
    # The same on two threads given: its due.
    assert cputime.judge([2.4] * 20, [1.0] * 20, [2.8] * 20, ref_claims, threads=2).charge_ms == 0.0
    # A few spikes (a collection) are left out; too few samples say nothing.
    spiky = cputime.judge([1.4] * 18 + [9.0] * 2, [1.0] * 20, ref_cpu, ref_claims, threads=1)
    assert spiky is not None and spiky.charge_ms == 0.0
    assert cputime.judge([1.0, 1.0], [1.0, 1.0], ref_cpu, ref_claims, threads=1) is None


def test_a_stops_cost_counts_the_wake_up_until_the_threads_sleep_again() -> None:
    """Session 15: measured back to back, a continue's work that took longer than 2 ms (threads
    woken with cold caches, waiting for a core at load 10) was left out of the stop cost and charged
    to honest copies as their own work. Here a continue costs the process 5 ms of CPU (its handler):
    the stop cost must count it."""
    child = subprocess.Popen([sys.executable, "-c",
                              "import signal, sys, time\n"
                              "def woken(*_):\n"
                              "    end = time.thread_time() + 0.005\n"
                              "    while time.thread_time() < end: pass\n"
                              "signal.signal(signal.SIGCONT, woken)\n"
                              "print('ready', flush=True)\n"
                              "time.sleep(600)\n"], stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline().strip() == b"ready"
        cost = cputime.stop_cost_ms(child.pid, pairs=4)
        assert 4.0 <= cost < 50.0, cost
    finally:
        child.kill()
        child.wait()


def test_a_few_preempted_calls_of_either_side_move_nothing() -> None:
    # A copy: the same CPU and claims on both sides, but 5 of the reference's 100 calls were
    # preempted under load (a claim of 5 ms is wall time, no CPU). Session 15's mean followed them:
    # the reference's figure sank 0.24 ms below the copy's and the copy was charged.
    ref_claims = [0.1] * 95 + [5.0] * 5
    honest = cputime.judge([1.0] * 100, [0.1] * 100, [1.0] * 100, ref_claims, threads=2)
    assert honest is not None and honest.charge_ms == 0.0, honest.detail
    # And the candidate's own: a third of its calls sleep (claims are never below the wall time, and
    # its median claim stays 0.1 ms) while 0.6 ms of work a cycle is done where no claim runs.
    padded = cputime.judge([1.6] * 99, [0.1, 0.1, 20.0] * 33, [1.0] * 100, [0.1] * 100, threads=2)
    assert padded is not None and padded.charge_ms > 0.15, padded.detail


def test_a_waited_for_childs_time_stays_in_the_tree() -> None:
    # A child that forks a grandchild, which burns 0.3 s of CPU and exits, waited for by the child:
    # the grandchild's time is then in no live process's clock, only in its parent's reaped time.
    code = ("import os, time\npid = os.fork()\nif pid == 0:\n    end = time.process_time() + 0.3\n"
            "    while time.process_time() < end: pass\n    os._exit(0)\nos.waitpid(pid, 0)\nprint('reaped', flush=True)\n"
            "time.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "reaped"
        assert cputime.reaped_ns(child.pid) >= 0.25e9
        assert cputime.tree_cpu_ns(child.pid) - cputime.process_cpu_ns(child.pid) >= 0.25e9
    finally:
        child.kill()
        child.wait()


def test_the_clean_workers_own_stops_are_left_out_as_the_candidates_are() -> None:
    # Both stopped once a call (request_order.flush_symmetric), each stop worth 0.4 ms of wake-ups:
    # left out of both sides, a copy is not charged; left in the reference's, a candidate that
    # did 0.35 ms a call of work outside its claims would hide inside the clean worker's stop.
    ref_cpu, cand_cpu = [1.4] * 20, [1.4] * 20
    same = cputime.judge(cand_cpu, [1.0] * 20, ref_cpu, [1.0] * 20, threads=1, stops=[1] * 20, stop_ms=0.4,
                         ref_stops=[1] * 20)
    assert same is not None and same.charge_ms == 0.0
    hidden = cputime.judge([1.75] * 20, [1.0] * 20, ref_cpu, [1.0] * 20, threads=1, stops=[1] * 20, stop_ms=0.4,
                           ref_stops=[1] * 20)
    assert hidden is not None and hidden.charge_ms > 0.09, hidden.detail
