"""The burst check, driven with stand-in workers: what the parent's clock sees decides."""

from __future__ import annotations

import contextlib
import time

import pytest

from kernelswarm.evaluate.parent import bursts, request_order, timing, wallclock
from kernelswarm.evaluate.parent.options import EvalOptions
from kernelswarm.records import Timing


class FakeWorker:
    """Answers `time_burst` as a worker would, taking `per_call_ms` of (pretended) wall time a call."""

    def __init__(self, per_call_ms: float, fingerprints_short_by: int = 0) -> None:
        self.per_call_ms, self.short = per_call_ms, fingerprints_short_by
        self.last_wall_s = 0.0
        self.last_wait_s = 0.0  # the parent never waits for a core here
        self.bursts: list[int] = []
        self.sent: list[dict] = []

    def call(self, msg, blob=b"", deadline=None):
        self.sent.append(dict(msg))
        if msg["op"] == "time_burst":
            n = len(msg["calls"])
            self.bursts.append(n)
            self.last_wall_s = (1.0 + n * self.per_call_ms) / 1000.0  # the pipe's 1 ms, then the calls
            return {"fingerprints": [[float(k)] for k in range(n - self.short)]}, b""
        return {}, b""

    @contextlib.contextmanager
    def stopped(self):
        yield


def _check(cand: FakeWorker, claimed_ms: float, empty_ms: float = 0.05, seen_ms: float | None = None,
           clean: FakeWorker | None = None, device: str = "cpu"):
    o = EvalOptions.for_device(device)
    result = timing.CandidateTiming(Timing.from_samples([claimed_ms]))
    verdict = timing.burst_check(cand, clean or FakeWorker(empty_ms), o, time.monotonic() + o.timeout_s, result,
                                 [claimed_ms] * 40, seen_ms)
    return verdict, result


def test_an_honest_short_call_stands_and_its_burst_calls_join_the_fingerprint_check():
    cand = FakeWorker(0.05 + 0.15)  # the empty call's 0.05 ms, and 0.15 ms of its own
    verdict, result = _check(cand, claimed_ms=0.16)
    assert verdict is not None and verdict.believed and verdict.charge == 1.0
    n = int(timing.BURST_MS / 0.16) + 1
    assert cand.bursts == [n] * timing.BURSTS
    labels = [c.label for c in result.calls]
    assert len(labels) == timing.BURST_CHECKED and all(label.startswith("burst call ") for label in labels)


def test_a_lie_inside_the_per_call_allowance_is_charged():
    """0.06 ms shaved off a 0.15 ms call: below a GPU's per-call noise allowance (about 0.2 ms)."""
    verdict, _ = _check(FakeWorker(0.05 + 0.15), claimed_ms=0.09)
    assert verdict.believed and verdict.charge > 1.0
    assert 0.09 * verdict.charge == pytest.approx(0.15 * (1 - wallclock.BURST_REL) - wallclock.BURST_ABS_MS)


def test_a_burst_missing_fingerprints_is_a_lie():
    verdict, _ = _check(FakeWorker(0.2, fingerprints_short_by=1), claimed_ms=0.15)
    assert not verdict.believed and "fingerprints" in verdict.detail


def test_long_calls_get_short_bursts_that_catch_an_under_claim():
    """Calls over BURST_UNTIL_MS got no bursts, and under load the per-call check's allowance let a
    60% claim of a long call through (cheat/burst_fake at 1.69x, its claims above 20 ms)."""
    honest = FakeWorker(0.05 + 30.0)
    verdict, _ = _check(honest, claimed_ms=30.0)
    assert honest.bursts == [timing.BURST_LONG_CALLS] * timing.BURSTS
    assert verdict is not None and verdict.believed and verdict.charge == 1.0
    liar = FakeWorker(0.05 + 40.0)
    verdict, _ = _check(liar, claimed_ms=24.0)
    assert liar.bursts == [timing.BURST_LONG_CALLS] * timing.BURSTS
    assert verdict is not None and verdict.believed and 24.0 * verdict.charge >= 0.84 * 40.0


def test_short_claims_keep_bursts_of_eight_calls_or_more_however_slow_the_requests_looked():
    cand = FakeWorker(0.05 + 0.15)
    _check(cand, claimed_ms=0.15, seen_ms=40.0)  # 40 ms of a request's unexplained time: load
    assert cand.bursts == [timing.BURST_CALLS[0]] * timing.BURSTS


def test_bursts_are_sized_by_what_the_parent_saw_not_by_the_claim():
    """A liar claiming 0.01 ms of a 1 ms call would otherwise be asked for 2000 calls a burst."""
    cand = FakeWorker(1.0)
    verdict, _ = _check(cand, claimed_ms=0.01, seen_ms=1.0)
    assert cand.bursts == [int(timing.BURST_MS / 1.0) + 1] * timing.BURSTS
    assert not verdict.believed


def test_every_timed_call_may_be_kept_for_a_full_check_the_last_included():
    """A uniform sample over the whole run, decided as each call returns (issue 14.1)."""
    import random

    rng, k, n, runs = random.Random(3), 4, 60, 3000
    counts = [0] * n
    for _ in range(runs):
        slots: list[int] = []
        for i in range(n):
            s = timing.reservoir_slot(i, k, rng)
            if s is None:
                continue
            if s < len(slots):
                slots[s] = i
            else:
                slots.append(i)
        assert len(slots) == k
        for i in slots:
            counts[i] += 1
    expected = runs * k / n
    assert all(0.6 * expected < c < 1.4 * expected for c in counts), counts


def test_malformed_projections_count_as_none():
    assert timing._as_projections([[1.0, 2]]) == [[1.0, 2.0]]
    for bad in (None, "x", [1.0], [["a"]], [[True]]):
        assert timing._as_projections(bad) == []


class FakeClean(FakeWorker):
    """The clean worker: empty bursts at `empty_ms` a call, the reference's at `ref_warm_ms` more."""

    def __init__(self, empty_ms: float, ref_warm_ms: float) -> None:
        super().__init__(empty_ms)
        self.ref_warm_ms = ref_warm_ms

    def call(self, msg, blob=b"", deadline=None):
        reply = super().call(msg, blob, deadline)
        if msg["op"] == "time_burst" and not msg.get("null"):
            self.last_wall_s += len(msg["calls"]) * self.ref_warm_ms / 1000.0
        return reply


def _relative(claimed_ms: float, cand_warm_ms: float, ref_lone_ms: float = 0.27, ref_warm_ms: float = 0.08):
    o = EvalOptions.for_device("cpu")
    result = timing.CandidateTiming(Timing.from_samples([claimed_ms]), ref_times=[ref_lone_ms] * 40)
    cand = FakeWorker(0.05 + cand_warm_ms)
    return timing.burst_check(cand, FakeClean(0.05, ref_warm_ms), o, time.monotonic() + o.timeout_s, result,
                              [claimed_ms] * 40, claimed_ms)


def test_a_claim_at_warm_cache_speed_is_charged_what_cold_caches_cost_the_reference():
    """cheat/noop_flush: a copy of the reference claiming its calls at the bursts' warm speed
    (0.08 ms) where a lone call after a flush takes 0.27 ms passes the burst's own bound."""
    verdict = _relative(claimed_ms=0.08, cand_warm_ms=0.08)
    assert verdict.believed
    floor = 0.27 * (1 - wallclock.RELATIVE_MARGIN)
    assert 0.08 * verdict.charge == pytest.approx(floor)
    assert 0.27 / (0.08 * verdict.charge) < 1.3  # what the copy can be credited with at most


def test_an_honest_claim_is_not_charged_by_the_reference_bursts():
    assert _relative(claimed_ms=0.27, cand_warm_ms=0.08).charge == 1.0
    # Faster than the reference warm and cold alike (by the same loads): stands.
    assert _relative(claimed_ms=0.22, cand_warm_ms=0.03).charge == 1.0


def _v(believed: bool, charge: float = 1.0, noisy: bool = True) -> wallclock.ClaimVerdict:
    return wallclock.ClaimVerdict(believed, charge, "", noisy=noisy)


def test_a_charge_needs_another_window_and_stands_only_at_the_least_any_window_found():
    """Every wall-clock charge is one-sided: one window's charge of a copy of the reference was
    noise in about half the evaluations under heavy load (copies measured 0.13-0.8x). Another
    window is measured; an under-claim shows in every one, and the least charge stands."""
    assert not timing.settled(_v(True, 4.4))  # charged: measure again
    assert timing.settled(_v(True, 1.0))
    assert not timing.settled(_v(False))  # a lie by the clocks: measure again, as before
    assert timing.settled(_v(False, noisy=False))  # structural: load cannot sway it
    noise = [("w0", _v(True, 4.4)), ("w1", _v(True, 1.0))]
    assert timing.least_charged(noise)[0] == "w1"  # the copy: charged nothing
    lie = [("w0", _v(True, 2.6)), ("w1", _v(True, 2.3)), ("w2", _v(True, 2.5))]
    assert timing.least_charged(lie)[1].charge == 2.3  # an under-claim is charged in every window
    assert timing.least_charged([("w0", _v(False)), ("w1", _v(True, 1.8)), ("w2", _v(False))])[0] == "w1"
    assert timing.least_charged([("w0", _v(False)), ("w1", _v(False))])[0] == "w1"  # a lie in each: the fresh one


def test_the_confirmation_is_behind_its_switch_until_it_keeps_every_cheats_verdict(monkeypatch):
    assert not timing.confirm_charges()  # noop_flush got 1.91x with it under load: not the default
    monkeypatch.setenv("KERNELSWARM_CONFIRM_CHARGES", "1")
    assert timing.confirm_charges()


class WaitedWorker(FakeWorker):
    """As FakeWorker, but every request's wall time also holds `wait_ms` of the parent's own wait
    for a core (what load adds, and the kernel's run_delay shows)."""

    def __init__(self, per_call_ms: float, wait_ms: float) -> None:
        super().__init__(per_call_ms)
        self.wait_ms = wait_ms

    def call(self, msg, blob=b"", deadline=None):
        reply = super().call(msg, blob, deadline)
        self.last_wall_s += self.wait_ms / 1000.0
        self.last_wait_s = self.wait_ms / 1000.0
        return reply


def test_the_parents_own_wait_for_a_core_is_not_charged_a_lie_still_is():
    """Session 10: at load 13 the parent's wake-up added 15 ms to a 0.15 ms call's request, on the
    candidate's side as often as not; one-sided charges made copies measure 0.13-0.85x."""
    o = EvalOptions.for_device("cpu")

    def check(claimed_ms: float, forgive: bool):
        cand = WaitedWorker(0.05 + 0.15, wait_ms=30.0)  # 30 ms waited on every candidate burst only
        result = timing.CandidateTiming(Timing.from_samples([claimed_ms]))
        old, request_order.FORGIVE_WAIT = request_order.FORGIVE_WAIT, forgive
        try:
            return timing.burst_check(cand, FakeWorker(0.05), o, time.monotonic() + o.timeout_s, result,
                                      [claimed_ms] * 40, claimed_ms)
        finally:
            request_order.FORGIVE_WAIT = old

    assert check(0.16, forgive=False).charge > 1.5  # the wait, charged as the candidate's
    honest = check(0.16, forgive=True)
    assert honest.believed and honest.charge == 1.0
    liar = check(0.06, forgive=True)  # 0.15 ms of work claimed as 0.06
    assert liar.charge > 1.5 or not liar.believed


def test_the_parents_wait_for_a_core_is_measured():
    """procs.thread_delay_s reads this thread's run_delay: it grows while other processes hold
    every core and this thread is runnable (two spinners per core here)."""
    import os
    import subprocess
    import sys

    from kernelswarm.evaluate.parent import procs

    before = procs.thread_delay_s()
    if before == 0.0 and not os.path.exists("/proc/thread-self/schedstat"):
        pytest.skip("the kernel keeps no schedstat")
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2 * (os.cpu_count() or 1))]
    try:
        time.sleep(0.5)
        end = time.perf_counter() + 1.0
        while time.perf_counter() < end:
            pass
    finally:
        for p in spinners:
            p.kill()
            p.wait()
    assert procs.thread_delay_s() - before > 0.05


class LoggedWorker:
    """Answers every request of the per-call timing loop; logs what it was sent. `hidden_ms`: the
    wall time a `project` request takes (work a candidate could do there); `projecting_ms`: what
    projecting outputs costs, in whichever request does it (a `prepare` with a seed, a `project`);
    `flush_ms`: what a `time_call` that flushes takes for it, unless `skips_flush` (a no-op flush)."""

    def __init__(self, hidden_ms: float = 0.0, projecting_ms: float = 0.0, flush_ms: float = 0.0,
                 skips_flush: bool = False) -> None:
        self.sent: list[dict] = []
        self.last_wall_s, self.last_wait_s, self.hidden_ms = 0.0, 0.0, hidden_ms
        self.projecting_ms, self.flush_ms, self.skips_flush = projecting_ms, flush_ms, skips_flush

    def call(self, msg, blob=b"", deadline=None):
        self.sent.append(dict(msg))
        op = msg["op"]
        projects = op == "project" or (op == "prepare" and "project_seed" in msg)
        flushes = op == "time_call" and msg.get("flush", True) and not self.skips_flush
        self.last_wall_s = (0.3 + (self.hidden_ms if op == "project" else 0.0)
                            + (self.projecting_ms if projects else 0.0) + (self.flush_ms if flushes else 0.0)) / 1000.0
        if op == "time_call":
            return {"ms": 0.2, "fingerprint_at_return": [1.0, 2.0, 3.0], "op_s": 0.0002}, b""
        if op in ("prepare", "project"):
            return {"projections": [[1.0]]}, b""
        return {}, b""

    @contextlib.contextmanager
    def stopped(self):
        yield

    def call_when_continued(self, msg, while_stopped, deadline=None):
        before = while_stopped()
        return before, self.call(msg, deadline=deadline)[0]


def _loop(device: str, hidden_ms: float = 0.0, projecting_ms: float = 0.0, full: bool = False, flush_ms: float = 0.0,
          skips_flush: bool = False):
    o = EvalOptions.for_device(device, timed_calls=12, max_timed_calls=12, min_timing_s=0.0)
    result = timing.CandidateTiming(Timing.from_samples([0.2]), pool_seeds=[1, 2, 3])
    cand = LoggedWorker(hidden_ms, projecting_ms, flush_ms, skips_flush)
    clean = LoggedWorker(projecting_ms=projecting_ms, flush_ms=flush_ms)
    times, slack, null_slack = timing._timed_loop(cand, clean, o, time.monotonic() + o.timeout_s, result, 6)
    if full:
        return cand, clean, times, slack, null_slack, result
    return cand.sent, times, slack, result


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_no_uncharged_request_comes_between_a_call_and_its_projection(device):
    """Issue 14 (adv11, adv12): after each timed call the candidate's worker is next sent the
    request that projects (and, if sampled, keeps) that call's outputs, a `prepare` or a `project`
    whose time is charged; never a lone `keep`, never a `settle` (uncharged, sent on a GPU after
    the empty and the reference's calls: work finished there was free)."""
    sent, times, _, result = _loop(device)
    ops = [m["op"] for m in sent]
    assert "keep" not in ops
    calls = [k for k, op in enumerate(ops) if op == "time_call"]
    assert len(calls) == len(times) == len(result.calls)
    for k in calls:
        nxt = sent[k + 1]
        assert nxt["op"] in ("prepare", "project") and ("project_seed" in nxt or nxt["op"] == "project"), ops[k:k + 3]
        if device == "cuda":  # right after the call, whatever comes next (projects_at_return)
            assert nxt["op"] == "project", ops[k:k + 3]
    assert all(c.projections == [[1.0]] for c in result.calls)
    assert sum("keep_slot" in m for m in sent) >= 6  # the first calls are all sampled
    if device == "cuda":
        assert "settle" in ops  # still sent (after the empty calls), but only ever after a projection
        assert all(ops[k - 1] == "project" for k, op in enumerate(ops) if op == "settle" and k > 0)
        assert not any("project_seed" in m for m in sent)  # no `prepare` projects: every call paid alike


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_candidate_reference_and_empty_calls_pay_for_the_same_requests(device):
    """Issue 14 (adv12): the unclaimed time judged is a candidate call's requests' against the
    empty calls' (and the reference's); a request or a projection that one side pays and the other
    does not is room for a lie that size. 500d7b8 projected only the calls a `settle` followed in
    a `project` charged beyond a typical `prepare`: their successors' `prepare` then projected
    nothing, every empty call's still did, and on the H200 cheat/noop_flush hid 0.25 ms a call
    (accepted at 2.57x, bound 1.4). Here projecting costs 0.25 ms wherever it is done."""
    _, _, _, slack, null_slack, result = _loop(device, projecting_ms=0.25, full=True)
    med = wallclock.median
    assert med(slack) == pytest.approx(med(null_slack), abs=1e-6)
    assert med(slack) == pytest.approx(med(result.ref_slack), abs=1e-6)
    # The projection is in every call's measure (an honest call's own work, never a discount).
    requests = 3 if timing.projects_at_return(device) else 2
    assert med(slack) == pytest.approx(requests * 0.3 + 0.25 - 0.2, abs=1e-6)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_a_candidate_whose_flush_is_a_no_op_saves_nothing_the_empty_calls_pay(device):
    """Issue 14 (session 18): on a GPU every timed request asked its own worker to flush as well;
    the empty calls' and the reference's paid for it, a candidate that made its flush a no-op did
    not, and the time saved passed for a faster call: cheat/noop_flush/nostatic accepted at 1.86x
    on the H200 (bound 1.4). Every flush is now the flush worker's, outside either timed request."""
    honest = _loop(device, flush_ms=0.25, full=True)
    skipping = _loop(device, flush_ms=0.25, skips_flush=True, full=True)
    med = wallclock.median
    for _, _, _, slack, null_slack, result in (honest, skipping):
        assert med(slack) == pytest.approx(med(null_slack), abs=1e-6)
        assert med(slack) == pytest.approx(med(result.ref_slack), abs=1e-6)
    assert med(skipping[3]) == pytest.approx(med(honest[3]), abs=1e-6)
    cand, clean = honest[0], honest[1]
    timed = [m for m in cand.sent + clean.sent if m["op"] == "time_call"]
    assert timed and not any(m.get("flush", True) for m in timed)
    assert any(m["op"] == "flush" for m in clean.sent)  # the flush worker's (here the clean one)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_no_burst_asks_its_worker_to_flush(device):
    """As for the timed calls: each burst follows the flush worker's flush, none flushes inside."""
    cand, clean = FakeWorker(0.05 + 0.15), FakeWorker(0.05)
    _check(cand, claimed_ms=0.16, clean=clean, device=device)
    bursts = [m for m in cand.sent + clean.sent if m["op"] == "time_burst"]
    assert len([m for m in cand.sent if m["op"] == "time_burst"]) == timing.BURSTS
    assert not any(m.get("flush", True) for m in bursts)
    assert sum(m["op"] == "flush" for m in clean.sent) >= 2 * timing.BURSTS


def test_work_in_a_gpu_projection_is_charged_whole_to_its_call():
    """On a GPU each call's `project` is charged in full (no `prepare` projects there to set
    against it): 50 ms hidden in each lands on each call, none on another."""
    _, _, honest, _ = _loop("cuda")
    _, _, hiding, _ = _loop("cuda", hidden_ms=50.0)
    assert [h - k for h, k in zip(hiding, honest)] == pytest.approx([50.0] * len(honest), abs=1e-6)


def test_work_in_the_last_projection_is_charged_to_the_last_call():
    _, _, honest, _ = _loop("cpu")
    _, _, hiding, _ = _loop("cpu", hidden_ms=50.0)
    assert hiding[-1] - honest[-1] == pytest.approx(50.0, abs=0.5)
    assert hiding[:-1] == pytest.approx(honest[:-1])


def test_a_timing_that_ran_to_its_limit_still_leaves_the_bursts_their_time():
    """The timed calls stop once TIMED_UNTIL_LEFT of the time is left; the bursts run while
    BURST_TIME_LEFT is. Equal (0.25 both, before session 12), a timing stopped by the time
    skipped its bursts: cheat/burst_fake timed to its limit was accepted at 1.69x."""
    o = EvalOptions.for_device("cpu")
    deadline = time.monotonic() + 0.99 * timing.TIMED_UNTIL_LEFT * o.timeout_s  # just past the stop
    assert timing._enough(5, 1.0, o, deadline, precise=False)
    result = timing.CandidateTiming(Timing.from_samples([0.16]))
    cand = FakeWorker(0.05 + 0.15)
    verdict = timing.burst_check(cand, FakeWorker(0.05), o, deadline, result, [0.16] * 40)
    assert verdict is not None and cand.bursts == [int(timing.BURST_MS / 0.16) + 1] * timing.BURSTS


def test_claims_the_bursts_had_no_time_to_check_are_a_timeout_never_accepted():
    from kernelswarm.evaluate.parent import acceptance
    from kernelswarm.evaluate.parent.state import State, VerdictReached
    from kernelswarm.evaluate.parent.devicelock import NO_LOCK
    from kernelswarm.records import Verdict

    st = State(EvalOptions.for_device("cpu"), NO_LOCK, base_deadline=time.monotonic())
    ct = timing.CandidateTiming(Timing.from_samples([0.16]), unchecked=True)
    with pytest.raises(VerdictReached) as caught:
        acceptance.plausible(st, ct, {"floor_ms": 0.001})
    assert caught.value.verdict is Verdict.TIMEOUT and caught.value.noise_sensitive
    assert "bursts" in caught.value.reason
    ct.unchecked = False
    acceptance.plausible(st, ct, {"floor_ms": 0.001})  # checked: it stands
    assert st.checks[-1].name == "wall-clock" and st.checks[-1].passed


def test_the_per_call_check_against_the_paired_reference_is_behind_its_switch():
    """Session 13: judging the candidate's unclaimed time beyond the paired reference calls'
    (wallclock.judge_claims with ref_slack) let cheat/noop_flush through at 1.64x under load 9-10:
    measurement only until it keeps every timing cheat's verdict."""
    import os

    assert os.environ.get("KERNELSWARM_SYMMETRIC_CLAIMS") is not None or not timing.SYMMETRIC_CLAIMS
    result = timing.CandidateTiming(Timing.from_samples([2.0]))
    times = [2.0] * 40
    null = [3.0 + 0.01 * (k % 5) for k in range(40)]
    slack = [s + 2.0 for s in null]  # 2 ms beyond the empty calls' on every call...
    result.ref_slack = list(slack)  # ...as the paired reference calls left too
    result.ref_times = [2.0] * 40
    old = timing.SYMMETRIC_CLAIMS
    try:
        timing.SYMMETRIC_CLAIMS = False
        assert timing._judged(times, slack, null, result).charge > 1.2
        timing.SYMMETRIC_CLAIMS = True
        assert timing._judged(times, slack, null, result).charge == 1.0
    finally:
        timing.SYMMETRIC_CLAIMS = old


def _vouched(resolution: wallclock.Resolution, claimed_ms: float = 0.08, reference_ms: float = 0.27):
    """acceptance.vouch on an accepted evaluation of a candidate claiming `claimed_ms` a call."""
    from kernelswarm.evaluate.parent import acceptance
    from kernelswarm.evaluate.parent.state import State
    from kernelswarm.evaluate.parent.devicelock import NO_LOCK
    from kernelswarm.records import Evaluation, Kind, Verdict

    st = State(EvalOptions.for_device("cpu"), NO_LOCK, base_deadline=time.monotonic())
    ref = Timing.from_samples([reference_ms * (1 + 0.01 * (k % 3)) for k in range(30)])
    cand = Timing.from_samples([claimed_ms * (1 + 0.01 * (k % 3)) for k in range(30)])
    ev = Evaluation("matmul", "cpu", Verdict.ACCEPTED, "ok", kind=Kind.PYTORCH_REWRITE, reference=ref, candidate=cand)
    acceptance.speedup_intervals(ev, None)
    ct = timing.CandidateTiming(cand, resolution=resolution, claimed_ms=cand.median_ms)
    acceptance.vouch(st, ev, ct)
    return ev, st


def test_a_claimed_gain_the_clock_cannot_resolve_counts_as_1x_and_is_undecided():
    """cheat/noop_flush's 3.4x claim where the per-call clock's noise is 2 ms a call (load ~10 on
    this CPU): not a win, whatever the claims; the interval still holds the claims' high end."""
    from kernelswarm import intervals
    from kernelswarm.records import SpeedDecision

    ev, st = _vouched(wallclock.Resolution(excess_ms=0.19, noise_ms=2.0, allowed_ms=0.054))
    assert ev.speedup == pytest.approx(1.0)
    low, high = ev.speedup_ci
    assert low < 0.2 and high > 3.0 and low <= ev.speedup <= high
    assert intervals.decide(ev.speedup_ci, 0.02) is SpeedDecision.UNDECIDED
    assert st.checks[-1].name == "resolution" and "too noisy" in st.checks[-1].detail


def test_a_gain_the_clock_resolves_is_counted_less_its_noise(monkeypatch):
    from kernelswarm.evaluate.parent import acceptance

    quiet = wallclock.Resolution(excess_ms=0.0, noise_ms=0.01, allowed_ms=0.054)
    ev, st = _vouched(quiet, claimed_ms=0.135)
    assert ev.speedup == pytest.approx(0.27 / (0.135 + 0.01), rel=0.02) and ev.speedup_ci[0] > 1.8
    assert st.checks[-1].name == "resolution" and "too noisy" not in st.checks[-1].detail
    monkeypatch.setattr(acceptance, "VOUCH", False)  # KERNELSWARM_VOUCH=0: as before session 14
    ev, st = _vouched(wallclock.Resolution(0.19, 2.0, 0.054))
    assert ev.speedup > 3.0 and not st.checks


class SpikedWorker(FakeWorker):
    """A candidate's worker whose burst rounds take `per_round_ms` a call each, in turn: load that
    hit some rounds and not others."""

    def __init__(self, per_round_ms: list[float]) -> None:
        super().__init__(per_round_ms[0])
        self.per_round = per_round_ms

    def call(self, msg, blob=b"", deadline=None):
        if msg["op"] == "time_burst":
            self.per_call_ms = self.per_round[len(self.bursts) % len(self.per_round)]
        return super().call(msg, blob, deadline)


def _rounds(per_round_ms: list[float], claimed_ms: float, monkeypatch, least: bool = True):
    monkeypatch.setattr(bursts, "LEAST_BURST_ROUND", least)
    o = EvalOptions.for_device("cpu")
    result = timing.CandidateTiming(Timing.from_samples([claimed_ms]), ref_times=[0.27] * 40)
    return timing.burst_check(SpikedWorker([0.05 + x for x in per_round_ms]), FakeClean(0.05, 0.27), o,
                              time.monotonic() + o.timeout_s, result, [claimed_ms] * 40, claimed_ms)


def test_a_burst_bound_that_not_every_round_shows_is_noise(monkeypatch):
    """A copy of a 0.27 ms call whose bursts load hit in two rounds of three (1 ms a call more):
    by the median round a liar, by the least round what it is. A lie shows in every round."""
    spiked = [1.27, 0.27, 1.27]
    assert not _rounds(spiked, 0.27, monkeypatch, least=False).believed  # before session 14
    honest = _rounds(spiked, 0.27, monkeypatch)
    assert honest.believed and honest.charge == 1.0
    lie = _rounds([0.27, 0.27, 0.27], 0.1, monkeypatch)  # claims 0.1 of a 0.27 ms call, every round
    assert not lie.believed
    shaved = _rounds([0.27, 0.27, 0.27], 0.2, monkeypatch)  # a smaller lie, every round: charged
    assert shaved.believed and 0.27 * (1 - wallclock.RELATIVE_MARGIN) <= 0.2 * shaved.charge <= 0.27


class SpikedClean(FakeClean):
    """The clean worker whose reference bursts load hit in some rounds: `ref_round_ms` a call
    more than its empty calls in each round, in turn."""

    def __init__(self, ref_round_ms: list[float]) -> None:
        super().__init__(0.05, ref_round_ms[0])
        self.ref_round = ref_round_ms
        self.ref_bursts = 0

    def call(self, msg, blob=b"", deadline=None):
        if msg["op"] == "time_burst" and not msg.get("null"):
            self.ref_warm_ms = self.ref_round[self.ref_bursts % len(self.ref_round)]
            self.ref_bursts += 1
        return super().call(msg, blob, deadline)


def _noisy_rounds(cand_round_ms: list[float], ref_round_ms: list[float], claimed_ms: float, monkeypatch):
    monkeypatch.setattr(bursts, "LEAST_BURST_ROUND", True)
    o = EvalOptions.for_device("cpu")
    result = timing.CandidateTiming(Timing.from_samples([claimed_ms]), ref_times=[0.27] * 40)
    return timing.burst_check(SpikedWorker([0.05 + x for x in cand_round_ms]), SpikedClean(ref_round_ms), o,
                              time.monotonic() + o.timeout_s, result, [claimed_ms] * 40, claimed_ms)


def test_the_least_rounds_relative_bound_allows_the_clean_workers_own_burst_spread(monkeypatch):
    """Session 15: a copy of softmax_rows (a 0.29 ms call, claims equal to the reference's) was
    charged to 0.22x at load 4-6 because its burst was the slower of the pair in each of three
    rounds (+1.08 ms a call at least), while burst rounds there varied by hundreds of ms. The
    clean worker's own bursts of the same calls varied by 1.2 ms a call here: a least difference
    below that is noise, not a lie."""
    ref_rounds = [0.27, 1.5, 0.6]  # the reference's own bursts, load on its second round
    copy = _noisy_rounds([0.9, 2.0, 1.2], ref_rounds, 0.27, monkeypatch)  # each round 0.5-0.63 ms slower
    assert copy.believed and copy.charge == 1.0, copy.detail
    # Without the clean worker's spread (as before) the same rounds charged the copy 2.6x.
    relative = wallclock.judge_relative([0.27] * 40, 0.27, [min(c - r for c, r in zip([0.9, 2.0, 1.2], ref_rounds))])
    assert relative.charge > 2.5
    # A lie is rejected as before: the spread softens charges, not a rejection.
    liar = _noisy_rounds([1.08, 1.08, 1.08], [0.27, 0.3, 0.27], 0.27, monkeypatch)  # 4x its claims
    assert not liar.believed, liar.detail
    # Where the clean worker's own bursts agree, a lie beyond the margin is charged as before.
    shaved = _noisy_rounds([0.27, 0.27, 0.27], [0.27, 0.27, 0.27], 0.2, monkeypatch)
    assert shaved.believed and 0.27 * (1 - wallclock.RELATIVE_MARGIN) <= 0.2 * shaved.charge <= 0.27
