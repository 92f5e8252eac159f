"""benchmarks/optimize_models.py's one-command plan (issue 15, session 13): a budget, a compile
limit, agents and hand-written candidates per model, and the table that says whether each
assembled model was judged."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
import optimize_models as om  # noqa: E402


def _args(**kw):
    base = dict(budget="500", compile_limit=None, agents="cudagraph", candidates=None, mode="inference",
                min_share="0.01")
    return SimpleNamespace(**(base | kw))


def test_each_model_gets_its_budget_limit_agents_and_candidates():
    plan = om.model_plan(["resnet50", "bert"], _args(budget="230,235", compile_limit="40,95",
                                                    agents="resnet50=folder;bert=cudagraph", candidates="auto",
                                                    min_share="0,0.1"))
    agents, budget, limit, cand, share = plan["resnet50"]
    assert (agents, budget, limit, share) == ("folder", 230.0, 40.0, 0.0)
    assert cand == om.HERE / "candidates" / "resnet50" and (cand / "ResNetConvLayer.template.py").is_file()
    assert plan["bert"] == ("cudagraph", 235.0, 95.0, None, 0.1)  # no hand-written kernel for BERT: no folder agent
    one = om.model_plan(["gpt2", "vit"], _args(budget="300"))
    assert one["gpt2"][1:3] == (300.0, None) and one["vit"][:2] == ("cudagraph", 300.0) and one["vit"][4] == 0.01
    auto = om.model_plan(["gpt2"], _args(candidates="auto", agents="compile"))
    assert auto["gpt2"][0] == "compile,folder"


@pytest.mark.parametrize("kw,word", [(dict(budget="100,200,300"), "--budget"), (dict(budget="soon"), "--budget"),
                                     (dict(compile_limit="0"), "--compile-limit"), (dict(min_share="-0.1"), "--min-share"),
                                     (dict(agents="llama=folder"), "--agents"),
                                     (dict(candidates="/nonexistent/cands"), "--candidates")])
def test_a_plan_that_cannot_be_is_one_line(kw, word):
    with pytest.raises(ValueError, match=word) as e:
        om.model_plan(["resnet50", "bert"], _args(**kw))
    assert "\n" not in str(e.value)


def test_the_table_says_what_was_judged():
    rows = [{"model": "resnet50", "state": "done", "tasks": 30, "regions": 71, "covered_share": 0.84, "ceiling": 6.25,
             "eager_ms": 12.0, "compile_ms": None, "compile_missing": "not measured in time (its 40 s limit ran out)",
             "assembled_ms": 11.8, "choice": "eager", "result_ms": 12.0, "winners": ["embedder_embedder"],
             "evaluations": [("assembled, user's weights", "accepted", ""), ("assembled, redrawn weights", "accepted", "")]},
            {"model": "bert", "state": "done", "eager_ms": 21.4, "compile_ms": 21.0, "choice": "compile", "winners": [],
             "per_task": [{"name": "attention_self", "class": "BertSelfAttention", "count": 12, "share": 0.3,
                           "state": "done"}]}]
    md = om.markdown(rows)
    first = md.splitlines()[2]
    assert "| not measured in time |" in first and "| 11.8 |" in first and "user accepted, redrawn accepted" in first
    assert "| no winner |" in md.splitlines()[3]
    assert om.judged({"state": "searched"}) == "not judged"
    assert om.judged({"state": "done", "per_task": [{"state": "not reached (budget)"}]}) == "nothing searched"


def test_a_model_left_without_time_is_skipped_not_started(tmp_path, monkeypatch):
    """--total: a model's budget is cut to what is left of the command; under a minute, it is
    skipped and its row says so (no model is built)."""
    import json

    monkeypatch.setattr(om, "one_model", lambda *a, **k: pytest.fail("a model was started"))
    monkeypatch.setattr(sys, "argv", ["optimize_models.py", "--models", "resnet50,bert", "--device", "cpu",
                                      "--budget", "200,200", "--total", "70", "--out", str(tmp_path)])
    assert om.main() == 0
    rows = json.loads((tmp_path / "optimize_models.json").read_text())
    assert [(r["model"], r["state"]) for r in rows] == [("resnet50", "skipped: no time left"),
                                                       ("bert", "skipped: no time left")]
    assert "skipped: no time left" in (tmp_path / "optimize_models.md").read_text()


def test_top_is_a_whole_number_of_tasks_per_model():
    assert om.top_plan(["vit", "timm_resnet18"], "1,2") == {"vit": 1, "timm_resnet18": 2}
    assert om.top_plan(["vit", "bert"], None) == {"vit": None, "bert": None}
    assert om.top_plan(["vit"], "0") == {"vit": None}  # 0: every task over --min-share
    for bad in ("1.5", "-1", "1,2,3", "some"):
        with pytest.raises(ValueError, match="--top") as e:
            om.top_plan(["vit", "bert"], bad)
        assert "\n" not in str(e.value)
