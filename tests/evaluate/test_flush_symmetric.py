"""The clean worker's timed calls follow the candidate's events where flush_symmetric says so
(parent/timing.clean_timed_call): stopped during the flush worker's flush, the request written
while stopped, continued as its clock starts."""

from __future__ import annotations

import pytest

from kernelswarm.evaluate.parent import timing


class FakeWorker:
    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log = name, log

    def call(self, msg, deadline=None):
        self.log.append(f"{self.name}.call:{msg['op']}")
        return {"op": msg["op"], "ms": 1.0}, b""

    def call_when_continued(self, msg, while_stopped, deadline=None):
        self.log.append(f"{self.name}.stop")
        before = while_stopped()
        self.log.append(f"{self.name}.send:{msg['op']}")
        self.log.append(f"{self.name}.continue")
        return before, {"op": msg["op"], "ms": 1.0}


@pytest.fixture
def workers():
    log: list[str] = []
    return FakeWorker("clean", log), FakeWorker("flusher", log), log


@pytest.mark.parametrize("device", ["cuda", "cpu"])
def test_the_clean_worker_is_stopped_for_the_flush_and_continued_into_its_call(workers, monkeypatch, device):
    """On every device since session 22: on a CPU the continue that starts the candidate's call
    wakes its OpenMP pool too, and copies claimed 2-16% less than the reference in the old order."""
    monkeypatch.delenv("KERNELSWARM_FLUSH_SYMMETRIC", raising=False)
    clean, fl, log = workers
    reply = timing.clean_timed_call(clean, fl, {"op": "time_call"}, 0.0, device)
    assert reply["op"] == "time_call"
    assert log == ["clean.stop", "flusher.call:flush", "clean.send:time_call", "clean.continue"]


@pytest.mark.parametrize(("value", "device", "stops"), [("0", "cuda", False), ("0", "cpu", False), ("1", "cpu", True)])
def test_the_switch_overrides_the_default(workers, monkeypatch, value, device, stops):
    monkeypatch.setenv("KERNELSWARM_FLUSH_SYMMETRIC", value)
    clean, fl, log = workers
    timing.clean_timed_call(clean, fl, {"op": "time_call"}, 0.0, device)
    assert (log[0] == "clean.stop") is stops
    if not stops:
        assert log == ["flusher.call:flush", "clean.call:time_call"]


def test_on_a_cpu_the_empty_calls_are_the_flush_workers(workers, monkeypatch):
    """The clean worker makes only the reference's calls, one per candidate call, as the candidate's
    worker makes its own (timed_loop.null_worker); elsewhere, or with one worker for both, it
    makes the empty calls too."""
    from kernelswarm.evaluate.parent import timed_loop

    clean, fl, _ = workers
    assert timed_loop.null_worker(clean, fl, "cpu") is fl
    assert timed_loop.null_worker(clean, fl, "cuda") is clean
    assert timed_loop.null_worker(clean, clean, "cpu") is clean
    monkeypatch.setattr(timed_loop, "NULLS_IN_CLEAN", True)
    assert timed_loop.null_worker(clean, fl, "cpu") is clean


def test_a_worker_that_flushes_itself_is_never_stopped(workers, monkeypatch):
    monkeypatch.setenv("KERNELSWARM_FLUSH_SYMMETRIC", "1")
    clean, _, log = workers
    timing.clean_timed_call(clean, clean, {"op": "time_call"}, 0.0, "cuda")
    assert log == ["clean.call:flush", "clean.call:time_call"]
