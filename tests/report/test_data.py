"""ReportData from the store: problems, attempts, agents, arms, costs, JSON export."""

from __future__ import annotations

import json

import pytest

from kernelswarm.report import ReportData, report_data_from_store, to_dict, to_json
from kernelswarm.report.data import Attempt, ProblemReport, arm_label
from kernelswarm.store import Store

from .conftest import AGENTS, VERSIONS, make_store


def test_store_run_becomes_report_data(store_path):
    data = report_data_from_store(store_path)
    assert data.run_id == 1 and data.device == "cuda" and data.status == "finished"
    assert data.versions == VERSIONS
    assert len(data.problems) == 14
    p = data.problems[0]
    assert p.name == "l1_problem_00" and p.level == 1 and len(p.attempts) == 8
    assert {a.agent for a in p.attempts} == set(AGENTS)
    unsolved = [q for q in data.problems if not q.correct]
    assert unsolved and all(q.best_agent is None and q.best_source is None for q in unsolved)
    solved = [q for q in data.problems if q.best_agent]
    assert solved and all(q.best_source and q.result_ms < min(t for t in (q.eager_ms, q.compile_ms) if t) for q in solved)
    # The speed-of-light time comes back from the evaluator's floor check (floor = MARGIN x sol).
    assert all(q.sol_ms and 0 < q.fraction_of_sol < 1 for q in solved)


def test_aggregates(store_path):
    data = report_data_from_store(store_path)
    agents = {a.agent: a for a in data.agents()}
    assert set(agents) == set(AGENTS)
    assert agents["gpt"].attempts == 14 * 3 and agents["cuda-graphs"].attempts == 14
    assert agents["gpt"].tokens_in > 0 and agents["gpt"].cost_usd > 0 and agents["cuda-graphs"].cost_usd == 0
    assert sum(a.best_share for a in agents.values()) == pytest.approx(sum(p.best_agent is not None for p in data.problems) / 14)
    assert all(0 <= a.correct_share <= 1 for a in agents.values())
    arms = {a.arm: a for a in data.arms()}
    assert set(arms) == {"none", "profile", "feedback", "feedback+profile"}
    assert sum(a.attempts for a in arms.values()) == sum(len(p.attempts) for p in data.problems)
    [lv1, lv2, lv3, overall] = data.levels()
    assert (lv1.label, overall.label, overall.n) == ("level 1", "all", 14)


def test_latest_run_is_the_default(tmp_path):
    path = tmp_path / "k.db"
    make_store(path, problems=3, seed=1)
    make_store(path, problems=2, seed=2)
    assert report_data_from_store(path).run_id == 2
    assert len(report_data_from_store(path, 1).problems) == 3


def test_unusable_stores(tmp_path):
    with pytest.raises(FileNotFoundError):
        report_data_from_store(tmp_path / "absent.db")
    Store(tmp_path / "empty.db").close()
    with pytest.raises(KeyError, match="no runs"):
        report_data_from_store(tmp_path / "empty.db")
    make_store(tmp_path / "k.db", problems=1)
    with pytest.raises(KeyError, match="no run 5"):
        report_data_from_store(tmp_path / "k.db", 5)


def test_json_export_has_every_figure(store_path):
    data = report_data_from_store(store_path)
    d = json.loads(to_json(data))
    assert {"problems", "levels", "overall", "agents", "arms", "versions", "costs"} <= set(d)
    assert d["overall"]["fast_p_vs_eager"]["1.0"] == to_dict(data)["overall"]["fast_p_vs_eager"][1.0]
    assert d["problems"][0]["attempts"][0]["verdict"] in {"accepted", "incorrect", "compile_error", "runtime_error",
                                                          "rejected", "timeout"}
    assert "fraction_of_sol" in d["problems"][0] and "correct_share" in d["agents"][0]


def test_arm_label():
    assert arm_label({"feedback": True, "profile": True, "other_backend": False}) == "feedback+profile"
    assert arm_label({"feedback": False}) == "none"
    assert arm_label({"arm": "B", "feedback": True}) == "B"


def test_synthetic_data_needs_no_store():
    attempt = Attempt(1, "gpt", 0, "triton", "none", "accepted", "ok", "custom-kernel", 1.0, 2.0)
    data = ReportData(title="t", device="cpu", versions={}, problems=[
        ProblemReport("p", 1, 2.0, None, 1.0, 2.0, 2.0, True, "gpt", attempts=[attempt])])
    assert data.overall().geomean_vs_eager == 2.0 and data.agents()[0].best_share == 1.0


def test_flagged_problem_carries_flags_and_stays_out_of_the_headline(store_path):
    """Issue 13.5: `flags` per problem in report --json; flagged problems apart from the means."""
    before = report_data_from_store(store_path)
    s = Store(store_path)
    [row] = [r for r in s.problem_rows(1) if r["name"] == before.problems[0].name]
    s.set_problem_flags(row["id"], ["output is tiny: max |output| = 0 < 1e-06, so zeros would pass"])
    s.close()
    data = report_data_from_store(store_path)
    d = json.loads(to_json(data))
    assert d["problems"][0]["flags"] == ["output is tiny: max |output| = 0 < 1e-06, so zeros would pass"]
    assert all(p["flags"] == [] for p in d["problems"][1:])
    assert d["overall"]["n"] == len(data.problems) - 1 and d["overall"]["n_flagged"] == 1
    fair = [p.speedup_vs_best for p in before.problems[1:] if p.speedup_vs_best]
    import math
    assert d["overall"]["geomean_vs_best"] == pytest.approx(math.exp(sum(map(math.log, fair)) / len(fair)))
    assert d["overall"]["flagged_geomean_vs_best"] == pytest.approx(before.problems[0].speedup_vs_best)
