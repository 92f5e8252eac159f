"""Per run, the share of its wall time the device spent timing candidates (issue 16): summed from
the stored evaluations' timing phases, shown in the terminal summary."""

from __future__ import annotations

from pathlib import Path

from kernelswarm.records import Candidate, Evaluation, Verdict
from kernelswarm.report import report_data_from_store
from kernelswarm.report.data import ReportData
from kernelswarm.store import Store


def test_the_runs_timing_seconds_come_from_its_evaluations(tmp_path: Path) -> None:
    s = Store(tmp_path / "k.db")
    run = s.create_run("cpu", {}, {"torch": "2.13.0"})
    other = s.create_run("cpu", {}, {"torch": "2.13.0"})
    for r, phases in ((run, [{"timing": 2.5, "check": 1.0}, {"timing": 1.5}, {}]), (other, [{"timing": 100.0}])):
        pid = s.add_problem(r, 0, "p", 1, "h", "/p/p.py", "class Model: ...", {})
        for k, ph in enumerate(phases):
            [cid] = s.add_proposals(r, pid, "agent", k, [Candidate(f"# {k}\nclass ModelNew: ...\n", "agent", "p", k)])
            s.add_evaluation(cid, Evaluation("p", "cpu", Verdict.REJECTED, "x", phases_s=ph))
    s.close()
    assert report_data_from_store(tmp_path / "k.db", run).timing == (3, 4.0)


def test_the_device_line_gives_rate_and_share() -> None:
    data = ReportData(title="t", device="cpu", versions={}, problems=[], started_at="2026-12-01T10:00:00+00:00",
                      finished_at="2026-12-01T10:02:00+00:00", timing=(30, 60.0))
    assert data.device_line() == ("30 candidate evaluations, 15.0 per minute; the device timed candidates 60 s of "
                                  "the run's 120 s wall (50%)")
    running = ReportData(title="t", device="cpu", versions={}, problems=[], started_at="2026-12-01T10:00:00+00:00",
                         timing=(3, 1.0))
    assert running.device_line() == "3 candidate evaluations"
