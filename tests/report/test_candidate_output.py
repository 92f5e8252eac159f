"""The report's attempt detail shows what a candidate printed, accepted or not."""

from __future__ import annotations

from pathlib import Path

from kernelswarm.records import Candidate, Evaluation, Kind, Timing, Verdict
from kernelswarm.report import report_data_from_store
from kernelswarm.report.html import render_html
from kernelswarm.store import Store

LOG = "[kernelswarm] cpp_extension.load_inline failed: RuntimeError: Error building extension <ks>"


def test_an_accepted_attempts_output_reaches_the_report(tmp_path: Path) -> None:
    s = Store(tmp_path / "k.db")
    run = s.create_run("cpu", {}, {})
    pid = s.add_problem(run, 0, "tiny", 1, "h", "tiny.py", "class Model: pass", {})
    s.set_baselines(pid, Timing.from_samples([2.0]), None, None)
    quiet, loud = s.add_proposals(run, pid, "a", 0, [Candidate("# quiet\n", "a"), Candidate("# loud\n", "a")])
    for cid, log in ((quiet, ""), (loud, LOG)):
        s.add_evaluation(cid, Evaluation("tiny", "cpu", Verdict.ACCEPTED, "correct", kind=Kind.PYTORCH_REWRITE,
                                         candidate=Timing.from_samples([1.0]), log_tail=log))
    s.close()
    assert Store(tmp_path / "k.db", read_only=True).log_tails(run) == {loud: LOG}
    data = report_data_from_store(tmp_path / "k.db", run)
    assert [a.log for a in data.problems[0].attempts] == ["", LOG]
    page = render_html(data)
    assert "candidate output" in page and "load_inline failed" in page
    assert "Error building extension &lt;ks&gt;" in page  # escaped like everything else
