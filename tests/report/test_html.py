"""The page: self-contained, escaped, every figure captioned with its versions."""

from __future__ import annotations

import re

from kernelswarm.report import ReportData, render_html, report_data_from_store, write_report
from kernelswarm.report.data import Attempt, ProblemReport

from .conftest import EVIL


def test_page_is_self_contained(store_path, tmp_path):
    path = write_report(report_data_from_store(store_path), tmp_path / "out")
    assert path == tmp_path / "out" / "index.html"
    page = path.read_text()
    # Nothing to fetch: no external scripts, styles, images, fonts or links.
    tags = " ".join(re.findall(r"<[a-zA-Z][^>]*>", page))  # escaped text holds no real tags
    links = re.findall(r"""\b(?:src|href)\s*=\s*(["']?)([^"'\s>]*)""", tags)
    assert links and all(quote == '"' and target.startswith("#") for quote, target in links)
    assert "@import" not in page and "url(" not in page
    assert page.count("<svg") >= 2 + 14  # two figures, one time chart per problem


def test_untrusted_text_is_escaped(store_path):
    page = render_html(report_data_from_store(store_path))
    assert EVIL not in page  # it sits in a source and in reasons, shown escaped
    assert "&lt;/script&gt;&lt;script&gt;document.title=" in page
    assert page.count("<script>") == 1  # only the page's own


def test_every_figure_carries_versions(store_path):
    page = render_html(report_data_from_store(store_path))
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", page)
    assert len(captions) == 2
    for c in captions:
        for fact in ("NVIDIA H100 80GB HBM3", "driver 570.86.15", "torch 2.13.0", "triton 3.5.0"):
            assert fact in c


def test_sections(store_path):
    page = render_html(report_data_from_store(store_path))
    for heading in ("Speedup over problems", "Per level", "Per agent", "Context arms", "Problems", "Details"):
        assert f"<h2>{heading}" in page
    assert "median" in page and "mean" in page and "winning source" in page
    assert "speed of light" in page and 'class="chip rejected"' in page


def _one_problem(arm: str) -> ProblemReport:
    a = Attempt(1, "gpt", 0, "triton", arm, "accepted", "ok", "custom-kernel", 1.0, 2.0)
    return ProblemReport("p", None, 2.0, None, 1.0, 2.0, 2.0, True, "gpt", "custom-kernel", "triton", "src", attempts=[a])


def test_single_arm_run_has_no_arm_section_and_missing_versions_say_so():
    page = render_html(ReportData(title="t", device="cpu", versions={}, problems=[_one_problem("none")]))
    assert "<h2>Context arms" not in page
    assert "driver n/a" in page and "triton n/a" in page


def test_empty_run_renders():
    page = render_html(ReportData(title="empty", device="cpu", versions={}, problems=[]))
    assert "<h1>empty</h1>" in page and "0 problems" in page


def test_flagged_problem_is_marked_and_counted_apart():
    flagged = ProblemReport("zeros", 1, 1.0, 1.0, 0.04, 25.5, 25.5, True, best_agent="a",
                            flags=["output is tiny: <zeros> would pass"])
    fair = ProblemReport("relu", 1, 1.0, 1.0, 0.5, 2.0, 2.0, True, best_agent="a")
    page = render_html(ReportData("t", "cpu", {}, [flagged, fair]))
    assert page.count('class="chip flag"') == 2  # the problems table and the details
    assert "output is tiny: &lt;zeros&gt; would pass" in page and "<zeros>" not in page
    assert "1 flagged problem(s) kept out of the figures above" in page
    assert "25.5×" in page and "<b>2×</b><span>geomean vs eager" in page  # the headline is the fair problem's


def test_problems_never_measured_are_counted_apart_in_page_and_terminal(capsys):
    """A stopped run's unmeasured problems are neither failures nor the baseline's: kept out of the
    level figures, in the HTML report and the terminal summary alike."""
    from kernelswarm.cli.summary import print_summary

    fair = ProblemReport("relu", 1, 1.0, 1.0, 0.5, 2.0, 2.0, True, best_agent="a")
    never = ProblemReport("gelu", 1, None, None, None, None, None, False)
    data = ReportData("t", "cpu", {}, [fair, never], status="stopped (its process is gone)")
    page = render_html(data)
    assert "1 problem(s) never measured (the run stopped before them) kept out of the figures above" in page
    assert "<b>100%</b><span>with a correct candidate" in page
    print_summary(data)
    out = capsys.readouterr().out
    assert "level 1: 1 problem(s) never measured" in out and "best agent, level 1: a 100%" in out
    assert "on cpu, stopped" in out  # no empty "()" where no device name was recorded


def test_an_agents_geomean_leaves_flagged_problems_out_as_the_levels_do():
    """Issue 13.5: a 25.5x on a problem whose output is always zero is no faster kernel; the level
    figures left it out while the agent's geomean (terminal and page) counted it."""
    zeros = ProblemReport("zeros", 1, 1.0, 1.0, 0.04, 25.5, 25.5, True, best_agent="a", flags=["output is tiny"],
                          attempts=[Attempt(1, "a", 0, "triton", "none", "accepted", "ok", "custom-kernel", 0.04, 25.5)])
    relu = ProblemReport("relu", 1, 1.0, 1.0, 0.5, 2.0, 2.0, True, best_agent="a",
                         attempts=[Attempt(2, "a", 0, "triton", "none", "accepted", "ok", "custom-kernel", 0.5, 2.0)])
    data = ReportData("t", "cpu", {}, [zeros, relu])
    (row,) = data.agents()
    assert row.geomean_speedup == 2.0 and row.accepted == 2 and row.best_share == 1.0
    (arm,) = data.arms()
    assert arm.geomean_speedup == 2.0 and arm.solved == 2
