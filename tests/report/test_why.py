"""Why each problem's result stands (issue 13): the selection and the interval it rests on, in the
terminal summary, `report --json` and the HTML page alike; noise-sensitive rejections apart from
candidates caught lying."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kernelswarm.cli import app
from kernelswarm.records import Candidate, Evaluation, Kind, Selection, Timing, Verdict
from kernelswarm.report import report_data_from_store
from kernelswarm.report.html import render_html
from kernelswarm.store import Store

runner = CliRunner()
VERSIONS = {"device_name": "test cpu", "torch": "2.13.0"}


def _t(ms: float) -> Timing:
    return Timing.from_samples([ms * f for f in (0.99, 1.0, 1.01)])


def _accepted(problem: str, ms: float, ci: tuple[float, float], ci_compile: tuple[float, float]) -> Evaluation:
    return Evaluation(problem, "cpu", Verdict.ACCEPTED, "correct", kind=Kind.PYTORCH_REWRITE, reference=_t(10.0),
                      compiled=_t(8.0), candidate=_t(ms), speedup_ci=ci, speedup_vs_compile_ci=ci_compile,
                      versions=VERSIONS)


def _rejected(problem: str, noise: bool) -> Evaluation:
    reason = ("wall clock: 8 calls took 20.3 ms each (bound 17.2 ms) against the claimed 4.63 ms" if noise
              else "an output checked after the call differs from the one returned")
    return Evaluation(problem, "cpu", Verdict.REJECTED, reason, noise_sensitive=noise, versions=VERSIONS)


# problem -> its candidates' evaluations; eager 10 ms, torch.compile 8 ms (the faster baseline)
RUN = {
    "wins": [_accepted("wins", 5.0, (1.9, 2.1), (1.5, 1.7))],
    "not_faster": [_accepted("not_faster", 7.9, (1.25, 1.28), (0.99, 1.03))],
    "too_noisy": [_accepted("too_noisy", 6.0, (0.9, 2.6), (0.7, 2.1))],
    "none_accepted": [_rejected("none_accepted", noise=True), _rejected("none_accepted", noise=False),
                      _rejected("none_accepted", noise=True)],
    "no_baseline": [],
}


def _store(path: Path) -> Path:
    s = Store(path)
    run = s.create_run("cpu", {"min_gain": 0.02}, VERSIONS)
    for i, (name, evaluations) in enumerate(RUN.items()):
        pid = s.add_problem(run, i, name, 1, f"h{i}", f"/p/{name}.py", "class Model: ...", {})
        if name == "no_baseline":
            s.set_baselines(pid, None, None, "baselines failed: out of memory")
        else:
            s.set_baselines(pid, _t(10.0), _t(8.0), None)
        for k, ev in enumerate(evaluations):
            [cid] = s.add_proposals(run, pid, "agent", k, [Candidate(f"# {k}\nclass ModelNew: ...\n", "agent", name, k)])
            s.add_evaluation(cid, ev)
        s.mark_problem_done(pid)
    s.set_run_status(run, "finished")
    s.close()
    return path


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return _store(tmp_path / "k.db")


def test_each_problem_says_why_and_on_which_interval(db: Path) -> None:
    problems = {p.name: p for p in report_data_from_store(db).problems}
    assert {n: p.selection for n, p in problems.items()} == {
        "wins": Selection.WIN, "not_faster": Selection.NOT_FASTER, "too_noisy": Selection.TOO_NOISY,
        "none_accepted": Selection.NONE_ACCEPTED, "no_baseline": Selection.NO_BASELINE}
    # Against the faster baseline (torch.compile here): the lower of the two intervals' ends.
    assert problems["wins"].interval == (1.5, 1.7) and problems["wins"].best_agent == "agent"
    assert problems["not_faster"].interval == (0.99, 1.03) and problems["not_faster"].best_agent is None
    assert problems["too_noisy"].interval == (0.7, 2.1)
    assert problems["none_accepted"].interval is None
    assert "does not clear 1.02x" in problems["not_faster"].why and "too noisy" in problems["too_noisy"].why
    p = problems["none_accepted"]
    assert (p.lies, p.noise_rejections) == (1, 2)


def test_report_json_and_the_terminal_say_the_same(db: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    res = runner.invoke(app, ["report", "--db", str(db), "--out", str(tmp_path / "rep"), "--json"])
    assert res.exit_code == 0, res.output
    d = {p["name"]: p for p in json.loads((tmp_path / "rep" / "report.json").read_text())["problems"]}
    assert d["wins"]["selection"] == "win" and d["wins"]["interval"] == [1.5, 1.7]
    assert d["wins"]["speedup_ci"] == [1.5, 1.7] and d["not_faster"]["speedup_ci"] is None
    assert d["too_noisy"]["selection"] == "too-noisy" and d["no_baseline"]["selection"] == "no-baseline"
    assert (d["none_accepted"]["lies"], d["none_accepted"]["noise_rejections"]) == (1, 2)
    assert [a["rejected_for_noise"] for a in d["none_accepted"]["attempts"]] == [True, False, True]
    rows = {line.split()[1]: line for line in res.output.splitlines() if re.match(r"^│ \w", line)}
    assert "[1.50, 1.70]" in rows["wins"] and "win" in rows["wins"]
    assert "[0.99, 1.03]" in rows["not_faster"] and "not-faster" in rows["not_faster"]
    assert "[0.70, 2.10]" in rows["too_noisy"] and "too-noisy" in rows["too_noisy"]
    assert "1 lying, 2 noise" in rows["none_accepted"]
    assert "not_faster: baseline stands: the fastest accepted candidate (interval 0.990-1.030x) does not clear 1.02x" \
        in res.output
    assert "rejections: 3 rejected: 1 by a check no load explains (caught lying), 2 noise-sensitive" in res.output
    agent = next(line for line in res.output.splitlines() if line.startswith("│ agent"))
    assert re.search(r"│\s+1\s+│\s+2\s+│", agent), agent  # rejected: lying, rejected: noise


def test_html_shows_why_and_tells_noise_from_lies(db: Path) -> None:
    page = render_html(report_data_from_store(db))
    assert page.count('class="chip noise"') == 2 and page.count('<span class="chip rejected">') == 1
    assert "rejected (noise-sensitive)" in page and "1 caught lying" in page
    for selection in ("win", "not-faster", "too-noisy", "none-accepted", "no-baseline"):
        assert f'">{selection}</td>' in page, selection
    assert "1.5–1.7×" in page and "0.99–1.03×" in page
    assert "undecided: the machine is too noisy" in page
    # Only a win is green in the problems table.
    rows = re.findall(r'<tr><td class="l"><a href="#p-([\w-]+)">(.*?)</tr>', page)
    assert len(rows) == 5 and [name for name, row in rows if 'class="good"' in row] == ["wins"], rows


def test_a_candidate_never_judged_is_not_called_no_code(tmp_path: Path) -> None:
    """A stopped run leaves proposals unjudged: they say so, apart from an agent that wrote nothing."""
    s = Store(tmp_path / "k.db")
    run = s.create_run("cpu", {}, VERSIONS)
    pid = s.add_problem(run, 0, "p", 1, "h", "/p/p.py", "class Model: ...", {})
    s.set_baselines(pid, _t(10.0), None, None)
    s.add_proposals(run, pid, "a", 0, [Candidate("class ModelNew: ...\n", "a", "p", 0)])
    s.add_proposals(run, pid, "b", 0, [Candidate("", "b", "p", 0, note="the model wrote no code block")])
    s.close()
    page = render_html(report_data_from_store(tmp_path / "k.db"))
    assert page.count(">not evaluated</span>") == 1 and page.count(">no code</span>") == 1
