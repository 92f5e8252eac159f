"""optimize within a time budget (issue 15's benchmarks): the whole model's baselines come before
the search and are timed once; `should_stop` leaves tasks unsearched and an unjudged assembly
unassembled; tasks under `search_below` and tasks no folder file offers are not searched."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).parent


def test_offered_only_tasks_with_a_folder_file(tmp_path):
    from kernelswarm.agents.builtin import builtin_agents
    from kernelswarm.agents.folder import FolderAgent
    from kernelswarm.optimize.search import _offered

    (tmp_path / "has.py").write_text("x = 1\n")
    has, hasnt = type("P", (), {"name": "has"})(), type("P", (), {"name": "hasnt"})()
    folder = FolderAgent(tmp_path)
    assert _offered(has, [folder]) and not _offered(hasnt, [folder])
    assert _offered(hasnt, [folder, *builtin_agents(["compile"])])  # another agent may still propose


def test_stopped_before_the_search_keeps_the_whole_models_baselines(tmp_path, monkeypatch):
    """A budget spent before any task: every stage still reports, in order; the whole model's
    eager time is measured (once: end_to_end reuses it), no task is searched, nothing assembled."""
    import tinynet

    import kernelswarm
    from kernelswarm.optimize import verify

    calls = []
    real = verify.whole_baselines
    monkeypatch.setattr(verify, "whole_baselines", lambda *a, **k: calls.append(1) or real(*a, **k))

    stages, events = [], []
    torch.manual_seed(0)
    model = tinynet.Model()
    cands = tmp_path / "cands"
    cands.mkdir()
    (cands / "blocks_mlp.py").write_text((HERE / "candidates" / "blocks_mlp.py").read_text())
    (cands / "block_attn.py").write_text("# a misspelt task name: matches no task\n")
    opt = kernelswarm.optimize(model, tuple(tinynet.get_inputs()), device="cpu", agents="folder",
                               candidates=cands, db=str(tmp_path / "ks.db"), compile=False,
                               should_stop=lambda: True, on_stage=stages.append, on_event=events.append)
    assert [s.name for s in stages] == ["cut", "baselines", "searched", "verified"]
    assert any("matching no task" in n and "block_attn.py" in n and "blocks_attn" in n for n in opt.end_to_end.notes)
    assert stages[0].tasks and stages[0].end_to_end is None and "capture" in stages[0].seconds
    assert stages[1].end_to_end.eager_ms > 0 and stages[1].end_to_end.compile_ms is None
    assert len(calls) == 1  # timed once
    assert not any(e.kind == "evaluated" for e in events)
    assert all(t.agent is None and t.baseline_ms is None for t in opt.tasks)
    assert opt.choice == "eager" and opt.correct and opt.end_to_end.eager_ms == stages[1].end_to_end.eager_ms


@pytest.mark.slow
def test_search_below_and_folder_files_limit_the_search(tmp_path):
    """Only the task with a hand-written file and a share above the bar is searched; the rest get
    no evaluation (not even baselines)."""
    import tinynet

    import kernelswarm
    from kernelswarm.store import Store

    torch.manual_seed(0)
    model = tinynet.Model()
    opt = kernelswarm.optimize(copy.deepcopy(model), tuple(tinynet.get_inputs()), device="cpu", agents="folder",
                               candidates=HERE / "candidates", db=str(tmp_path / "ks.db"), compile=False,
                               search_below=0.0, should_stop=lambda: False)
    store = Store(str(tmp_path / "ks.db"))
    names = {r["name"] for r in store.problem_rows(opt.run_id)}
    store.close()
    assert names == {"blocks_mlp"}, names
    assert [t.name for t in opt.tasks if t.baseline_ms is not None] == ["blocks_mlp"]
    assert opt.seconds["baselines"] > 0


@pytest.mark.slow
def test_overlapped_judgement_reads_both_evaluations(tmp_path):
    """jobs=2 (a pure-PyTorch fused MLP as the winner): the assembled model's evaluations with the user's weights and with redrawn ones run
    at once (one timing lock); both are read, in order, when the first passes, and the baselines
    come from whole_baselines without being timed again."""
    import tinynet

    from kernelswarm.agents.builtin import embed_problem
    from kernelswarm.optimize.assemble import Winner, assembled_source
    from kernelswarm.optimize.capture import capture
    from kernelswarm.optimize.tasks import cut
    from kernelswarm.optimize.verify import end_to_end, whole_baselines, whole_problems

    torch.manual_seed(0)
    model = tinynet.Model().eval()
    inputs = tuple(tinynet.get_inputs())
    c = cut(capture(copy.deepcopy(model), inputs, "cpu"))
    mlp = next(t for t in c.tasks if t.name == "blocks_mlp")
    redrawn, user = whole_problems(copy.deepcopy(model), inputs, tmp_path / "whole", "tinynet_whole")
    src = assembled_source(embed_problem(redrawn, "cpu"), "region", [mlp.plan | {"paths": list(mlp.paths)}],
                           [Winner("blocks_mlp", (HERE / "candidates_train" / "blocks_mlp.py").read_text(), "folder", 1.0,
                                   1.0)])
    base = whole_baselines(user, "cpu", 600.0, "fp32", compile_baseline=False)
    e2e = end_to_end(user, redrawn, src, None, "cpu", 600.0, "fp32", compile_baseline=False, base=base, jobs=2)
    labels = [label for label, _ in e2e.evaluations]
    assert labels[0] == "assembled, user's weights" and e2e.eager_ms == base.eager_ms
    first = e2e.evaluations[0][1]
    if first.correct:
        assert labels == ["assembled, user's weights", "assembled, redrawn weights"], labels
    else:  # the wall clock under load may reject it (issue 13); then nothing after it is read
        assert labels == ["assembled, user's weights"] and not e2e.correct, first.reason


def test_out_of_budget_the_assembly_is_not_judged():
    """Winners but no time left: the faster baseline stands, saying why; nothing is evaluated."""
    from kernelswarm.optimize.judge import verify_assembled
    from kernelswarm.optimize.result import Settings
    from kernelswarm.optimize.verify import EndToEnd, choose

    base = choose(EndToEnd("eager", 10.0, 8.0))
    s = Settings("cpu", should_stop=lambda: True)
    user = type("P", (), {"name": "whole"})()
    e2e = verify_assembled(s, user, None, "assembled source", None, base, True, None)
    assert e2e.choice == "compile" and e2e.correct and not e2e.evaluations
    assert "not judged within the time budget" in e2e.reason and any("time budget" in n for n in e2e.notes)
