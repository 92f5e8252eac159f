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


def test_the_device_line_says_when_evaluations_waited_for_another_process() -> None:
    """Issue 18: a wait for another kernelswarm process's hold on the device is shown, and the
    shards of one sweep add theirs up."""
    from kernelswarm.report.merge import merge_reports

    def part(problem: str, waits: tuple[int, float]) -> ReportData:
        from kernelswarm.report.data import ProblemReport

        p = ProblemReport(name=problem, level=1, eager_ms=1.0, compile_ms=None, result_ms=1.0, speedup_vs_eager=1.0,
                          speedup_vs_best=1.0, correct=False, best_agent=None, best_kind=None, best_language=None,
                          best_source=None, sol_ms=None, baseline_error=None, attempts=[])
        return ReportData(title="t", device="cpu", versions={}, problems=[p], started_at="2026-12-01T10:00:00+00:00",
                          finished_at="2026-12-01T10:02:00+00:00", status="finished", timing=(30, 60.0),
                          lock_waits=waits)

    assert part("a", (0, 0.0)).device_line().endswith("(50%)")  # nothing waited: nothing said
    merged = merge_reports([part("a", (2, 30.0)), part("b", (1, 12.4))], ["a.db run 1", "b.db run 1"])
    assert merged.device_line().endswith("; 3 of them waited 42 s in all for another kernelswarm process to "
                                         "finish with the device")
