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


def test_on_a_gpu_the_clean_worker_is_stopped_for_the_flush_and_continued_into_its_call(workers, monkeypatch):
    monkeypatch.delenv("KERNELSWARM_FLUSH_SYMMETRIC", raising=False)
    clean, fl, log = workers
    reply = timing.clean_timed_call(clean, fl, {"op": "time_call"}, 0.0, "cuda")
    assert reply["op"] == "time_call"
    assert log == ["clean.stop", "flusher.call:flush", "clean.send:time_call", "clean.continue"]


def test_on_a_cpu_the_old_order_stands_by_default(workers, monkeypatch):
    monkeypatch.delenv("KERNELSWARM_FLUSH_SYMMETRIC", raising=False)
    clean, fl, log = workers
    timing.clean_timed_call(clean, fl, {"op": "time_call"}, 0.0, "cpu")
    assert log == ["flusher.call:flush", "clean.call:time_call"]


@pytest.mark.parametrize(("value", "device", "stops"), [("0", "cuda", False), ("1", "cpu", True)])
def test_the_switch_overrides_the_device_default(workers, monkeypatch, value, device, stops):
    monkeypatch.setenv("KERNELSWARM_FLUSH_SYMMETRIC", value)
    clean, fl, log = workers
    timing.clean_timed_call(clean, fl, {"op": "time_call"}, 0.0, device)
    assert (log[0] == "clean.stop") is stops


def test_a_worker_that_flushes_itself_is_never_stopped(workers, monkeypatch):
    monkeypatch.setenv("KERNELSWARM_FLUSH_SYMMETRIC", "1")
    clean, _, log = workers
    timing.clean_timed_call(clean, clean, {"op": "time_call"}, 0.0, "cuda")
    assert log == ["clean.call:flush", "clean.call:time_call"]
