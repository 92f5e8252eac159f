"""What the bursts vouch for (burstvouch.py, issue 13): an honest short gain the per-call clock
cannot resolve is confirmed by the bursts, and nothing a burst did not measure is."""
from __future__ import annotations

import math
import time

import pytest

from kernelswarm.evaluate import EvalOptions
from kernelswarm.evaluate.parent import acceptance, burstvouch, timing, wallclock
from kernelswarm.evaluate.parent.state import State
from kernelswarm.evaluate.wire.chain import chain_key, chained_keys
from kernelswarm.records import Evaluation, Kind, Timing, Verdict

# Session 14's H200: a 0.46 ms call, the per-call clock blind to 0.14 ms of it.
REF_MS, PER_CALL_NOISE = 0.46, wallclock.Resolution(excess_ms=0.0, noise_ms=0.14, allowed_ms=0.092)


def _walls(per_call: list[float], calls: int = 55, null: float = 0.02) -> list[float]:
    """Burst wall ms of `calls` calls taking `per_call` ms each (one per round), the empty call's
    `null` ms included."""
    return [(p + null) * calls for p in per_call]


def _view(cand: list[float], ref: list[float], calls: int = 55) -> burstvouch.BurstView:
    return burstvouch.view(REF_MS, _walls(cand, calls), _walls(ref, calls), _walls([0.0] * len(ref), calls), calls)


def _counted(claimed_ms: float, v: burstvouch.BurstView | None, res: wallclock.Resolution = PER_CALL_NOISE) -> float:
    """The speedup counted for claims of `claimed_ms` (uncharged), with what the bursts saw."""
    vv = wallclock.vouch(REF_MS, claimed_ms, claimed_ms, res, burstvouch.bound_ms(v))
    return REF_MS / (claimed_ms * vv.cap)


def test_bursts_confirm_an_honest_short_gain():
    """A real 2x of a 0.46 ms call: the per-call clock alone counts 1.24x (0.46 / (0.23 + 0.14));
    the bursts, warm in both workers (0.42 against 0.21 ms a call), confirm it nearly whole."""
    assert _counted(0.23, None) == pytest.approx(0.46 / 0.37)
    v = _view([0.21, 0.212, 0.209], [0.42, 0.421, 0.419])
    assert burstvouch.bound_ms(v) < 0.25
    assert _counted(0.23, v) > 1.85


def test_bursts_confirm_nothing_beyond_a_copy():
    """A copy that claims 60% of its time (cheat/reply_shave), its bursts those of the reference:
    the bursts confirm no gain (their bound is the reference's call), and the lie counts no more
    than the per-call clock alone let it (here a clock that saw none of the lie)."""
    v = _view([0.42, 0.43, 0.42], [0.42, 0.42, 0.425])
    assert burstvouch.bound_ms(v) >= REF_MS
    assert _counted(0.6 * REF_MS, v) == pytest.approx(_counted(0.6 * REF_MS, None))
    seen = wallclock.Resolution(excess_ms=0.4 * REF_MS, noise_ms=0.14, allowed_ms=0.092)
    assert _counted(0.6 * REF_MS, v, seen) == pytest.approx(1.0)


def test_the_worst_round_counts():
    """A load spike on the reference's burst of one round (its ratio 0.3) excuses nothing: the
    rounds where the candidate's burst took as long as the reference's decide."""
    v = _view([0.42, 0.42, 0.42], [1.4, 0.42, 0.42])
    assert max(v.ratios) == pytest.approx(1.0) and burstvouch.bound_ms(v) > REF_MS
    assert _counted(0.6 * REF_MS, v) == pytest.approx(_counted(0.6 * REF_MS, None))


def test_load_that_stretches_both_bursts_alike_changes_nothing_but_uneven_load_widens():
    """Three rounds each 3x slower than lone calls (a busy machine): the ratio, and so the bound,
    as on a quiet one. Rounds whose own reference bursts differ 2x vouch for 2x less."""
    quiet = burstvouch.bound_ms(_view([0.21] * 3, [0.42] * 3))
    busy = burstvouch.bound_ms(_view([0.63] * 3, [1.26] * 3))
    assert busy == pytest.approx(quiet)
    uneven = burstvouch.bound_ms(_view([0.21, 0.42, 0.21], [0.42, 0.84, 0.42]))
    assert uneven == pytest.approx(2.0 * quiet)


def test_too_little_vouches_for_nothing():
    """Fewer than MIN_ROUNDS rounds, or a burst no longer than the empty one's."""
    assert burstvouch.bound_ms(_view([0.21, 0.21], [0.42, 0.42])) == math.inf
    assert burstvouch.bound_ms(_view([0.21] * 3, [0.0, 0.42, 0.42])) == math.inf
    # A candidate's burst no longer than the empty one's (noise on a call below the overhead):
    # unresolved, never a ratio of 0 that would let any claim stand.
    assert burstvouch.bound_ms(_view([0.0, 0.21, 0.21], [0.42] * 3)) == math.inf
    assert burstvouch.bound_ms(None) == math.inf
    assert _counted(0.23, _view([0.21, 0.21], [0.42, 0.42])) == pytest.approx(0.46 / 0.37)


def test_a_charge_still_stands_under_the_bursts_vouch():
    """The bursts only ever shorten the longest a call may have taken: never below the charges."""
    v = _view([0.21] * 3, [0.42] * 3)
    vv = wallclock.vouch(REF_MS, 0.1, 0.3, PER_CALL_NOISE, burstvouch.bound_ms(v))
    assert vv.vouched == pytest.approx(REF_MS / 0.3) and vv.cap == 1.0


def test_merged_windows_keep_every_round():
    a, b = _view([0.21] * 3, [0.42] * 3), _view([0.42] * 3, [0.42] * 3)
    m = burstvouch.merged([a, b])
    assert len(m.ratios) == 6 and burstvouch.bound_ms(m) == pytest.approx(burstvouch.bound_ms(b))
    assert burstvouch.merged([]) is None


def test_each_burst_call_is_keyed_by_the_one_before():
    """wire/chain.py: the first call keeps its key; every later one depends on the previous
    call's fingerprint, so its inputs cannot exist before that call's outputs do."""
    fps = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0]]
    keys = chained_keys([11, 12, 13], fps)
    assert keys[0] == 11 and keys[1] == chain_key(12, fps[0]) and keys[2] == chain_key(13, fps[1])
    assert chain_key(12, [1.0, 2.0, 3.0]) != chain_key(12, [1.0, 2.0, 3.0000000000000004])
    assert chain_key(12, [1.0]) != chain_key(13, [1.0]) and 0 <= chain_key(12, [float("nan")]) < 2**62


def _accepted(ct: timing.CandidateTiming, claimed_ms: float):
    from kernelswarm.evaluate.parent.devicelock import NO_LOCK

    st = State(EvalOptions.for_device("cpu"), NO_LOCK, base_deadline=time.monotonic())
    ref = Timing.from_samples([REF_MS * (1 + 0.01 * (k % 3)) for k in range(30)])
    cand = Timing.from_samples([claimed_ms * (1 + 0.01 * (k % 3)) for k in range(30)])
    ev = Evaluation("matmul_sliced", "cpu", Verdict.ACCEPTED, "ok", kind=Kind.PYTORCH_REWRITE, reference=ref, candidate=cand)
    acceptance.speedup_intervals(ev, None)
    ct.timing, ct.claimed_ms = cand, cand.median_ms
    acceptance.vouch(st, ev, ct)
    return ev, st


def test_run_counts_the_bursts_vouch_and_the_switch_turns_it_off(monkeypatch):
    """acceptance.vouch: with the bursts an honest 2x counts nearly 2x, and the interval's low end with
    it; KERNELSWARM_BURST_VOUCH=0 (acceptance.BURST_VOUCH) gives the per-call clock's 1.24x, as before."""
    def timed() -> timing.CandidateTiming:
        return timing.CandidateTiming(Timing.from_samples([1.0]), resolution=PER_CALL_NOISE,
                                      bursts=[_view([0.21, 0.212, 0.209], [0.42, 0.421, 0.419])])

    ev, st = _accepted(timed(), 0.23)
    assert ev.speedup > 1.85 and ev.speedup_ci[0] > 1.8
    assert "by the bursts (3 rounds of 55 calls" in st.checks[-1].detail
    monkeypatch.setattr(acceptance, "BURST_VOUCH", False)
    ev, st = _accepted(timed(), 0.23)
    assert ev.speedup == pytest.approx(REF_MS / 0.37, rel=0.02) and ev.speedup_ci[0] < 1.3
