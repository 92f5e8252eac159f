"""The timed loop's cost per call (issue 16): the candidate's process held stopped across the clean
worker's calls that follow one another, and the timing stopped once its claims cannot win."""

from __future__ import annotations

import contextlib
import random
import time

import pytest

from kernelswarm.evaluate.parent import timed_loop, timing
from kernelswarm.evaluate.parent.options import EvalOptions
from kernelswarm.records import Timing


class Worker:
    """Answers the timed loop's requests: a call claims `claim_ms` and takes that, 0.3 ms of pipe
    and up to `jitter_ms` more of wall time (load on the candidate's side: its checks stay open).
    Logs each request with whether the other worker (`peer`) was stopped as it was sent."""

    def __init__(self, claim_ms: float, jitter_ms: float = 0.0) -> None:
        self.claim_ms, self.jitter_ms = claim_ms, jitter_ms
        self.last_wall_s, self.last_wait_s = 0.0, 0.0
        self.stops, self.is_stopped, self.peer = 0, False, None
        self.log: list[tuple[str, bool, bool]] = []  # (op, this one stopped, the peer stopped)
        self.rng = random.Random(7)

    def call(self, msg, blob=b"", deadline=None):
        op = msg["op"]
        self.log.append((op, self.is_stopped, bool(self.peer and self.peer.is_stopped)))
        extra = self.claim_ms + self.rng.uniform(0.0, self.jitter_ms) if op == "time_call" else 0.0
        self.last_wall_s = (0.3 + extra) / 1000.0
        if op == "time_call":
            return {"ms": self.claim_ms, "fingerprint_at_return": [1.0], "op_s": self.claim_ms / 1000.0}, b""
        if op in ("prepare", "project"):
            return {"projections": [[1.0]]}, b""
        return {}, b""

    @contextlib.contextmanager
    def stopped(self):
        assert not self.is_stopped, "stopped twice over"
        self.stops += 1
        self.is_stopped = True
        try:
            yield
        finally:
            self.is_stopped = False

    def call_when_continued(self, msg, while_stopped, deadline=None):
        with self.stopped():
            before = while_stopped()
        return before, self.call(msg, deadline=deadline)[0]


def _run(cand: Worker, clean: Worker, device: str = "cpu", calls: int = 20, cap: int = 60):
    cand.peer, clean.peer = clean, cand
    o = EvalOptions.for_device(device, timed_calls=calls, max_timed_calls=cap, min_timing_s=0.0)
    result = timing.CandidateTiming(Timing.from_samples([1.0]), pool_seeds=[1, 2, 3])
    times, _, null_slack = timing._timed_loop(cand, clean, o, time.monotonic() + o.timeout_s, result, 4)
    return times, null_slack, result


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_the_candidate_is_stopped_for_every_clean_call_and_once_for_calls_that_follow_one_another(device):
    cand, clean = Worker(0.2), Worker(0.2)
    times, null_slack, result = _run(cand, clean, device, calls=12, cap=12)
    assert len(times) == len(result.ref_times) == 12
    # Every request to the clean worker (settle, prepare, time_call, project) found the candidate
    # stopped; no request reached the candidate while it was.
    assert all(peer_stopped for _, _, peer_stopped in clean.log)
    assert not any(stopped for _, stopped, _ in cand.log)
    blocks = len(result.ref_times) + len(null_slack)  # each once had a stop of its own
    own_flushes = len(times)  # the candidate is stopped for the flush before each of its calls
    assert cand.stops <= blocks + own_flushes - 2  # the three first empty calls share one stop at least
    assert not cand.is_stopped  # continued at the end


def test_a_failed_clean_call_leaves_the_candidate_running():
    class Failing(Worker):
        def call(self, msg, blob=b"", deadline=None):
            if msg["op"] == "time_call" and msg.get("null"):
                raise RuntimeError("the clean worker died")
            return super().call(msg, blob, deadline)

    cand = Worker(0.2)
    with pytest.raises(RuntimeError):
        _run(cand, Failing(0.2))
    assert not cand.is_stopped


def test_claims_that_cannot_win_stop_at_the_minimum_and_a_winners_stop_still_rests_on_the_checks(monkeypatch):
    """20 ms of jitter on the candidate's side keeps the per-call checks unsettled: before, every
    such timing ran to its cap. Claims twice the reference's stop at the minimum now; claims half
    of it run to the cap as before (a win rests on the clocks' verdicts)."""
    slower, _, _ = _run(Worker(0.4, jitter_ms=20.0), Worker(0.2))
    assert len(slower) == 20
    faster, _, _ = _run(Worker(0.1, jitter_ms=20.0), Worker(0.2))
    assert len(faster) == 60
    monkeypatch.setattr(timed_loop, "WIN_STOP", False)  # KERNELSWARM_WIN_STOP=0: as before session 15
    before, _, _ = _run(Worker(0.4, jitter_ms=20.0), Worker(0.2))
    assert len(before) == 60


def test_cannot_win_needs_the_whole_interval_below_1():
    ref = [0.2 + 0.001 * (k % 7) for k in range(40)]
    assert timed_loop.cannot_win(ref, [0.4] * 40)
    assert not timed_loop.cannot_win(ref, [0.2] * 40)  # a copy: its interval holds 1
    assert not timed_loop.cannot_win(ref, [0.4] * 39)  # looked at every CI_EVERY pairs only


def _stop_rule():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("stop_rule", Path(__file__).resolve().parents[2] / "benchmarks" / "stop_rule.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_replayed_candidate_rule_takes_an_offset_only_where_every_batch_shows_it():
    rng = random.Random(11)
    offset = [-5.0 + rng.gauss(0, 0.3) for _ in range(200)]  # the clean side's requests 5 ms longer
    assert _stop_rule().offset_clear(offset, 0.1, 0.2)
    loaded = offset[:180] + [1.0 + rng.gauss(0, 0.3) for _ in range(20)]  # one batch near the allowance
    assert not _stop_rule().offset_clear(loaded, 0.1, 0.2)
    assert not _stop_rule().offset_clear(offset[:7], 0.1, 0.2)  # too few calls for batches


def test_the_stop_rules_replay_finds_the_loops_own_stop():
    """benchmarks/stop_rule.py replays the rule on a timing's own calls (why a GPU copy needed 110
    or 290 of them): where the loop stopped, its replay's first stop; where it ran to its cap,
    none."""
    stop_rule = _stop_rule()
    for cand, clean, expected in ((Worker(0.2), Worker(0.2), 20), (Worker(0.2, jitter_ms=20.0), Worker(0.2), None)):
        cand.peer, clean.peer = clean, cand
        o = EvalOptions.for_device("cpu", timed_calls=20, max_timed_calls=60, min_timing_s=0.0)
        result = timing.CandidateTiming(Timing.from_samples([1.0]), pool_seeds=[1, 2, 3])
        times, slack, null_slack = timing._timed_loop(cand, clean, o, time.monotonic() + o.timeout_s, result, 4)
        window = {"times": times, "slack": slack, "null_slack": null_slack, "ref_times": result.ref_times,
                  "ref_slack": result.ref_slack, "timed_calls": 20}
        first, _ = stop_rule.first_looks(window)
        assert len(times) == (expected or 60)
        assert first.get("stop") == expected
