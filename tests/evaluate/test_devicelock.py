"""The device lock: timings exclusive, other device work shared, waiting timings first."""

import threading
import time

from kernelswarm.evaluate.devicelock import DeviceLock


def _record(log, lock_cm, name, hold_s, lock=threading.Lock()):
    with lock_cm:
        with lock:
            log.append(("in", name, time.monotonic()))
        time.sleep(hold_s)
        with lock:
            log.append(("out", name, time.monotonic()))


def _intervals(log):
    start = {n: t for kind, n, t in log if kind == "in"}
    end = {n: t for kind, n, t in log if kind == "out"}
    return {n: (start[n], end[n]) for n in start}


def test_shared_holders_overlap_but_never_with_an_exclusive_one():
    lock, log = DeviceLock(patience_s=0.0), []  # a waiting timing stops new sharers at once
    threads = [threading.Thread(target=_record, args=(log, lock.shared(), f"s{i}", 0.2)) for i in range(3)]
    threads.append(threading.Thread(target=_record, args=(log, lock.exclusive(), "x", 0.1)))
    threads += [threading.Thread(target=_record, args=(log, lock.shared(), f"t{i}", 0.1)) for i in range(2)]
    for t in threads[:3]:
        t.start()
    time.sleep(0.05)
    for t in threads[3:]:
        t.start()
        time.sleep(0.01)
    for t in threads:
        t.join(5)
    iv = _intervals(log)
    x0, x1 = iv["x"]
    for name, (a, b) in iv.items():
        if name != "x":
            assert b <= x0 or a >= x1, f"{name} overlapped the exclusive hold"
    # the three first sharers ran together
    assert max(iv[f"s{i}"][0] for i in range(3)) < min(iv[f"s{i}"][1] for i in range(3))
    # the waiting exclusive went before the sharers that came after it
    assert all(iv[f"t{i}"][0] >= x1 for i in range(2))


def test_sharers_keep_entering_until_a_timing_has_waited_its_patience():
    lock, log = DeviceLock(patience_s=0.3), []
    first = threading.Thread(target=_record, args=(log, lock.shared(), "long", 0.6))
    first.start()
    time.sleep(0.05)
    waited: list[float] = []

    def timing():
        with lock.exclusive():
            waited.append(lock.waited_s())
            log.append(("in", "x", time.monotonic()))
            time.sleep(0.05)
            log.append(("out", "x", time.monotonic()))

    x = threading.Thread(target=timing)
    x.start()
    time.sleep(0.05)
    early = threading.Thread(target=_record, args=(log, lock.shared(), "early", 0.05))
    early.start()  # the timing has waited less than its patience: this sharer goes in
    early.join(5)
    time.sleep(0.35)
    late = threading.Thread(target=_record, args=(log, lock.shared(), "late", 0.05))
    late.start()  # now the timing is overdue: this sharer waits for it
    for t in (first, x, late):
        t.join(5)
    iv = _intervals(log)
    assert iv["early"][1] <= iv["x"][0]  # entered (and left) while the timing waited
    assert iv["late"][0] >= iv["x"][1]
    assert iv["x"][0] >= iv["long"][1]  # the timing never overlapped the long sharer
    assert 0.4 < waited[0] < 2.0  # the timing's thread knows how long it waited
    assert lock.waited_s() == 0.0  # per thread: this one never waited


def test_the_holder_of_a_solo_hold_passes_its_own_nested_acquisitions():
    lock = DeviceLock()
    done = []
    with lock.solo():
        with lock.shared():
            with lock.exclusive():
                done.append(1)
        other = threading.Thread(target=lambda: lock.shared().__enter__() or done.append(2))
        other.start()
        other.join(0.2)
        assert done == [1]  # another thread waits while the solo hold lasts
    other.join(5)
    assert done == [1, 2]


def test_an_evaluation_under_the_lock_reports_its_wait_and_verdict():
    from kernelswarm.evaluate import EvalOptions, evaluate
    from kernelswarm.problems.load import load_problem
    from fixtures import CANDIDATES, PROBLEMS

    lock = DeviceLock(patience_s=0.0)
    problem = load_problem(PROBLEMS / "relu_linear.py")
    source = (CANDIDATES / "correct" / "same_ops.py").read_text()
    held = threading.Event()

    def hog():  # a timing elsewhere holds the device for a while as the evaluation starts
        with lock.exclusive():
            held.set()
            time.sleep(8.0)  # longer than the workers take to start

    t = threading.Thread(target=hog)
    t.start()
    held.wait(5)
    ev = evaluate(problem, source, EvalOptions.for_device("cpu", timing_lock=lock, timeout_s=120))
    t.join()
    assert ev.verdict.value == "accepted", ev.reason
    assert ev.phases_s["device_wait"] > 1.0  # the wait is measured (and added to the deadline)
