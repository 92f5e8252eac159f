"""A clock's "liar" verdict against what the candidate's CPU time and run delay show (issue 13): a
window whose unclaimed time was a wait for a core is undecided, never a lie and never accepted; a
lie done in CPU time, or hidden in a wait of the candidate's own, stays a lie."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from kernelswarm.evaluate.parent import cputime, timing, wallclock, windows
from kernelswarm.evaluate.parent.candidate_timing import CandidateTiming
from kernelswarm.records import Timing


def _waited(cycle_cpu: float, claim: float, delay: float, null_cpu: float, excess: float,
            proven: float | None = None) -> bool:
    n = 30
    w = cputime.waited([cycle_cpu] * n, [claim] * n, [delay] * n, [null_cpu] * 10, excess, proven_ms=proven)
    assert w is not None
    return w.waited


def test_an_honest_kernel_that_waited_for_a_core_is_not_a_liar() -> None:
    # session 19's C++ MLP at load 3-9: 14.6 ms a call unclaimed beyond the empty calls' against its
    # 0.612 ms claims, with 2.7-3.4 ms of CPU over its whole cycle (the requests' own about 2 ms)
    assert _waited(cycle_cpu=3.0, claim=0.612, delay=16.0, null_cpu=2.0, excess=14.6)


@pytest.mark.parametrize("cycle_cpu, claim, excess, delay, null_cpu", [
    # cheat/reply_rewrite/nostatic (claims a quarter of its call), session 20's windows at load 5-12:
    # its cycle's CPU is its claim plus cpu_room; the requests' own CPU put at 4 ms (more leaves less work)
    (9.18 + 20.71, 9.18, 26.8, 37.5, 4.0),
    (9.48 + 22.72, 9.48, 37.3, 37.5, 4.0),
    (6.35 + 24.80, 6.35, 19.4, 37.5, 4.0),
])
def test_a_lie_done_in_cpu_time_stays_a_lie_however_long_it_waited(cycle_cpu, claim, excess, delay, null_cpu) -> None:
    assert not _waited(cycle_cpu, claim, delay, null_cpu, excess)


def test_claims_that_leave_out_the_waits_the_references_carry_stay_a_lie() -> None:
    """cheat/reply_rewrite/nostatic at load 10 (session 21, recorded): 33.6 ms a call unclaimed beyond
    the empty calls', only 4.9 ms of it CPU beyond the requests' own (11.7 ms), 49.7 ms of run delay:
    by its own readings a wait, as an honest kernel's. The reference's claims carry their waits, and
    the CPU-time check against them proves 23.6 ms a call against its 9.6 ms claims."""
    readings = {"cycle_cpu": 26.06, "claim": 9.596, "delay": 49.66, "null_cpu": 11.67, "excess": 62.23 - 28.58}
    assert _waited(**readings)  # the wait alone would excuse it
    assert not _waited(**readings, proven=23.62)
    assert _waited(**readings, proven=0.3 * 9.596)


def test_a_wait_of_its_own_is_no_wait_for_a_core() -> None:
    # unclaimed time in a sleep, or in work another process (a kernel thread) does: little CPU,
    # and no run delay either, so nothing shows it waited for a core
    assert not _waited(cycle_cpu=2.2, claim=0.5, delay=0.3, null_cpu=2.0, excess=14.6)
    # and a wait that covers only part of what went unclaimed
    assert not _waited(cycle_cpu=2.2, claim=0.5, delay=6.0, null_cpu=2.0, excess=14.6)


def test_cpu_work_beyond_the_claims_is_no_wait_even_where_the_excess_dwarfs_it() -> None:
    # 3 ms of work outside a 1 ms claim: under half of a 40 ms excess, but three times the claim
    assert not _waited(cycle_cpu=2.0 + 1.0 + 3.0, claim=1.0, delay=60.0, null_cpu=2.0, excess=40.0)


def test_too_few_readings_or_no_excess_decide_nothing() -> None:
    assert cputime.waited([3.0] * 2, [0.6] * 2, [16.0] * 2, [2.0] * 10, 14.6) is None
    assert cputime.waited([3.0] * 30, [0.6] * 30, [16.0] * 30, [2.0] * 2, 14.6) is None
    assert cputime.waited([3.0] * 30, [0.6] * 30, [16.0] * 30, [2.0] * 10, -1.0) is None
    assert cputime.waited([3.0] * 30, [0.6] * 30, [-1.0] * 30, [2.0] * 10, 14.6) is None  # its tree was gone


def test_the_run_delay_of_a_process_tree_is_read_and_a_gone_one_is_negative() -> None:
    assert cputime.tree_delay_ns(os.getpid()) >= 0
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert cputime.tree_delay_ns(child.pid) == -1


def _window(delay: float, cycle_cpu: float) -> tuple[list[float], list[float], list[float], CandidateTiming]:
    """A window the per-call wall clock rejects: 0.6 ms claims, 17.6 ms unclaimed a call against the
    empty calls' 3 ms (noise well under 7 ms), on two threads."""
    n = 30
    times, slack, null_slack = [0.6] * n, [17.6 + 0.01 * (i % 3) for i in range(n)], [3.0 + 0.01 * (i % 3) for i in range(15)]
    ct = CandidateTiming(Timing.from_samples([1.0]), cpu_threads=2)
    ct.cpu_marks = [cycle_cpu * i for i in range(n + 1)]
    ct.stop_marks = [2 * i for i in range(n + 1)]
    ct.delay_marks = [delay * i for i in range(n + 1)]
    ct.null_cpu, ct.null_stops = [2.0] * 15, [1] * 15
    # the reference's prepare and call, as the candidate's requests cost: no CPU work beyond its claims
    ct.ref_cpu, ct.ref_times, ct.ref_stops = [cycle_cpu] * n, [0.6] * n, [1] * n
    ct.stop_ms = 0.05
    return times, slack, null_slack, ct


def test_a_window_the_wall_clock_rejects_is_undecided_where_the_candidate_waited() -> None:
    """Fails on the old rule (every such window a lie): its 14.6 ms unclaimed beyond the empty calls'
    were 14 ms of run delay and 1 ms of CPU beyond the requests' own."""
    times, slack, null_slack, ct = _window(delay=15.0, cycle_cpu=3.2)
    v = timing._judged(times, slack, null_slack, ct)
    assert not v.believed and v.undecided and v.noisy
    assert "undecided" in v.detail and "waited 15 ms" in v.detail


def test_the_same_window_without_the_wait_is_a_lie() -> None:
    times, slack, null_slack, ct = _window(delay=0.5, cycle_cpu=3.2)
    v = timing._judged(times, slack, null_slack, ct)
    assert not v.believed and not v.undecided and "wall clock disagrees" in v.detail


def test_a_wait_in_one_window_excuses_no_other_windows_lie() -> None:
    lie = wallclock.ClaimVerdict(False, 1.0, "lie")
    wait = wallclock.ClaimVerdict(False, 1.0, "wait", undecided=True)
    ok = wallclock.ClaimVerdict(True, 1.0, "ok")
    assert windows.standing([("a", lie), ("b", wait)], ("b", wait))[-1] is lie
    assert windows.standing([("a", wait), ("b", wait)], ("b", wait))[-1] is wait
    assert windows.standing([("a", lie), ("b", ok)], ("b", ok))[-1] is ok  # as before: a window that believed stands


def test_an_undecided_timing_is_never_accepted() -> None:
    import time

    from kernelswarm.evaluate.parent import acceptance
    from kernelswarm.evaluate.parent.devicelock import NoLock
    from kernelswarm.evaluate.parent.options import EvalOptions
    from kernelswarm.evaluate.parent.state import State, VerdictReached
    from kernelswarm.records import Verdict

    ct = CandidateTiming(Timing.from_samples([1.0]), wall_ok=False, undecided=True, noise_sensitive=True,
                         wall_detail="undecided: ...")
    st = State(EvalOptions(), NoLock(), time.monotonic() + 60)
    with pytest.raises(VerdictReached) as e:
        acceptance.plausible(st, ct, {})
    assert e.value.verdict == Verdict.TIMEOUT and e.value.noise_sensitive
    assert not st.checks[-1].passed and "too busy" in st.checks[-1].detail
