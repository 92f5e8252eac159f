"""The device lock: one timing at a time, every other evaluation's workers stopped meanwhile."""

import subprocess
import sys
import threading
import time

from kernelswarm.evaluate.parent.devicelock import DeviceLock
from loadslack import allow


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]  # R, S, T (stopped), ...


def _busy_process() -> subprocess.Popen:
    """A process in its own session that burns CPU, as a compiling worker would."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)


def _wait_state(pid: int, want: set[str], timeout: float = 5.0) -> str:
    end = time.monotonic() + allow(timeout)
    while True:
        s = _state(pid)
        if s in want or time.monotonic() > end:
            return s
        time.sleep(0.01)


class _HeldElsewhere:
    """Another thread takes the device and holds it until `release()`."""

    def __init__(self, lock: DeviceLock) -> None:
        self._held, self._release = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._hold, args=(lock,))
        self._thread.start()
        self._held.wait(5)

    def _hold(self, lock: DeviceLock) -> None:
        with lock.exclusive():
            self._held.set()
            self._release.wait(5)

    def release(self) -> None:
        self._release.set()
        self._thread.join(5)


def _in_thread(fn):
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("v", fn()))
    t.start()
    t.join(10)
    return box.get("v")


def test_a_timing_stops_other_threads_workers_and_resumes_them_after():
    lock = DeviceLock()
    other, mine = _busy_process(), _busy_process()
    try:
        _in_thread(lambda: lock.register(other.pid))  # owned by another evaluation's thread
        lock.register(mine.pid)  # owned by this one
        with lock.exclusive():
            assert _wait_state(other.pid, {"T"}) == "T"  # stopped: it runs nothing during the timing
            assert _state(mine.pid) in {"R", "S"}  # the timing's own workers keep running
            time.sleep(0.3)
        assert _wait_state(other.pid, {"R", "S"}) in {"R", "S"}
    finally:
        for p in (other, mine):
            p.kill()
            p.wait()


def test_a_worker_started_during_a_timing_starts_stopped_and_its_thread_is_compensated():
    lock = DeviceLock()
    proc = _busy_process()
    elsewhere = _HeldElsewhere(lock)
    try:
        before = lock.waited_s()
        lock.register(proc.pid)
        assert _wait_state(proc.pid, {"T"}) == "T"
        time.sleep(0.4)
        assert lock.paused_s() >= 0.35  # counted while it lasts, for deadlines of calls in flight
        elsewhere.release()
        assert _wait_state(proc.pid, {"R", "S"}) in {"R", "S"}
        stopped = lock.waited_s() - before
        assert 0.35 <= stopped < allow(3.0)  # this thread lost that time to someone else's timing
        lock.unregister(proc.pid)
        with lock.exclusive():  # no longer registered: not stopped any more
            time.sleep(0.05)
            assert _state(proc.pid) in {"R", "S"}
    finally:
        proc.kill()
        proc.wait()


def test_timings_go_one_at_a_time_in_arrival_order():
    lock, log, guard = DeviceLock(), [], threading.Lock()
    first_may_go = threading.Event()

    def timing(name):
        with lock.exclusive():
            with guard:
                log.append(("in", name, time.monotonic()))
            if name == "t0":
                first_may_go.wait(allow(10))  # holds the device until every other one has queued
            time.sleep(0.05)
            with guard:
                log.append(("out", name, time.monotonic()))

    threads = [threading.Thread(target=timing, args=(f"t{i}",)) for i in range(4)]
    for i, t in enumerate(threads):
        t.start()
        end = time.monotonic() + allow(5)
        while (len(lock._queue) < i if i else lock._owner is None) and time.monotonic() < end:
            time.sleep(0.005)  # arrive in order, however slow the machine is
    first_may_go.set()
    for t in threads:
        t.join(allow(10))
    assert [n for kind, n, _ in log if kind == "in"] == ["t0", "t1", "t2", "t3"]
    spans = sorted((a, b) for (k1, n1, a) in log for (k2, n2, b) in log if k1 == "in" and k2 == "out" and n1 == n2)
    assert all(spans[i][1] <= spans[i + 1][0] for i in range(len(spans) - 1))  # never two at once


def test_the_holder_of_a_solo_hold_passes_its_own_nested_acquisitions():
    lock = DeviceLock()
    done = []
    with lock.solo():
        with lock.exclusive():
            done.append(1)
        other = threading.Thread(target=lambda: lock.exclusive().__enter__() or done.append(2))
        other.start()
        other.join(0.2)
        assert done == [1]  # another thread waits while the solo hold lasts
    other.join(5)
    assert done == [1, 2]


def test_a_call_in_flight_gets_the_time_its_worker_spent_stopped():
    """A worker stopped by another evaluation's timing must not run out of time for it."""
    from kernelswarm.evaluate.wire.protocol import Channel, ChannelTimeout
    import os

    r, w = os.pipe()
    chan = Channel(r, os.open(os.devnull, os.O_WRONLY))
    moved = {"extra": 0.0}
    start = time.monotonic()
    try:
        chan.recv(lambda: start + 0.3 + moved.setdefault("extra", 0.0))
    except ChannelTimeout:
        pass
    assert 0.25 < time.monotonic() - start < allow(2.0)  # a fixed function: times out as a float would

    sender = Channel(os.open(os.devnull, os.O_RDONLY), w)
    writer = threading.Thread(target=lambda: (time.sleep(1.0), sender.send({"ok": True})))
    start = time.monotonic()
    writer.start()
    header, _ = chan.recv(lambda: start + 0.3 + max(0.0, time.monotonic() - start - 0.1))  # keeps moving
    writer.join()
    assert header == {"ok": True}
    chan.close()
    sender.close()


def test_an_evaluation_under_the_lock_reports_its_wait_and_verdict():
    from kernelswarm.evaluate import EvalOptions, evaluate
    from kernelswarm.problems.load import load_problem
    from fixtures import CANDIDATES, PROBLEMS

    lock = DeviceLock()
    problem = load_problem(PROBLEMS / "relu_linear.py")
    source = (CANDIDATES / "correct" / "same_ops.py").read_text()
    # The evaluation's own work fits its limit with room for load; its workers are kept stopped
    # for longer than the whole limit.
    limit = allow(12.0)
    evaluating, held = threading.get_ident(), threading.Event()

    def hog():  # a timing elsewhere holds the device as the evaluation starts: its workers start stopped
        with lock.exclusive():
            held.set()
            end = time.monotonic() + 3 * limit
            while lock.paused_s(evaluating) < limit + 1.0 and time.monotonic() < end:
                time.sleep(0.05)

    t = threading.Thread(target=hog)
    t.start()
    held.wait(5)
    opts = EvalOptions.for_device("cpu", timing_lock=lock, timeout_s=limit, timed_calls=10, min_timing_s=0.0,
                                  max_timed_calls=20, cpu_threads=1)
    ev = evaluate(problem, source, opts)
    t.join()
    assert ev.verdict.value == "accepted", ev.reason
    assert ev.phases_s["device_wait"] > limit  # the stop is measured (and added to the deadline)


def test_kill_workers_ends_every_registered_group_stopped_or_not():
    lock = DeviceLock()
    procs = [_busy_process(), _busy_process()]
    try:
        lock.register(procs[0].pid)
        _in_thread(lambda: lock.register(procs[1].pid))
        elsewhere = _HeldElsewhere(lock)  # another thread holds the device: the first worker is stopped now
        assert _wait_state(procs[0].pid, {"T"}) == "T"
        lock.kill_workers()  # an abandoned run: SIGKILL ends stopped processes too
        for p in procs:
            assert p.wait(5) == -9
        elsewhere.release()
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_a_stopped_worker_answers_only_once_resumed(tmp_path):
    """What the timing does around each calibration call in the clean worker."""
    from kernelswarm.evaluate.parent.procs import WorkerProcess

    w = WorkerProcess("reference", tmp_path, "cpu")
    try:
        with w.stopped():
            assert _wait_state(w.proc.pid, {"T"}) == "T"
            w.chan.send({"op": "no_such_op"})
            import select

            assert not select.select([w.chan.read_fd], [], [], 0.3)[0]  # stopped: no answer
        assert _wait_state(w.proc.pid, {"R", "S"}) in {"R", "S"}
        assert select.select([w.chan.read_fd], [], [], 10)[0]
    finally:
        w.kill()
