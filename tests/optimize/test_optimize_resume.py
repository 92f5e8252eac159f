"""A stopped `optimize` resumes (issue 15: "a killed optimize resumes", "nothing finished is
lost"): the second call with resume=True continues the same stored run, does not evaluate again
the task the first call finished nor time the whole model's baselines again, and searches the
task it left."""

from __future__ import annotations

import copy
import json
import sqlite3

import pytest
import torch


def _evaluations(db, problem: str) -> int:
    con = sqlite3.connect(str(db))
    try:
        return sum(1 for (data,) in con.execute("SELECT data FROM evaluations") if json.loads(data).get("problem") == problem)
    finally:
        con.close()


@pytest.mark.slow
def test_stopped_then_resumed_keeps_what_was_finished(tmp_path):
    import tinynet

    import kernelswarm
    from kernelswarm.optimize.capture import capture
    from kernelswarm.optimize.tasks import cut

    torch.manual_seed(0)
    model = tinynet.Model()
    inputs = tuple(tinynet.get_inputs())
    tasks = cut(capture(copy.deepcopy(model), inputs, "cpu")).tasks
    cands = tmp_path / "cands"
    cands.mkdir()
    chosen = {"blocks_mlp", "head"}  # each task's own code as its candidate: two tasks to search
    for t in tasks:
        if t.name in chosen:
            (cands / f"{t.name}.py").write_text(t.source.replace("class Model(nn.Module):", "class ModelNew(nn.Module):", 1))
    db = tmp_path / "ks.db"
    done: list[str] = []

    def first_done(e) -> None:
        if e.kind == "done":
            done.append(e.problem)

    opt1 = kernelswarm.optimize(copy.deepcopy(model), inputs, device="cpu", agents="folder", candidates=cands,
                                db=str(db), compile=False, should_stop=lambda: bool(done), on_event=first_done)
    assert len(done) == 1 and done[0] in chosen, done
    finished, left = done[0], (chosen - set(done)).pop()
    n_finished = _evaluations(db, finished)
    assert n_finished >= 1 and _evaluations(db, left) == 0
    assert opt1.correct  # the faster baseline stands meanwhile

    events = []
    opt2 = kernelswarm.optimize(copy.deepcopy(model), inputs, device="cpu", agents="folder", candidates=cands,
                                db=str(db), compile=False, resume=True, on_event=events.append)
    assert opt2.run_id == opt1.run_id  # the same run, continued
    # the whole model's baselines are the stopped run's, not timed again
    assert opt2.seconds["baselines"] < 0.25 * opt1.seconds["baselines"], (opt1.seconds, opt2.seconds)
    assert opt2.end_to_end.eager_ms == opt1.end_to_end.eager_ms
    assert _evaluations(db, finished) == n_finished  # not evaluated again
    assert _evaluations(db, left) >= 1
    again = [e for e in events if e.kind == "done" and e.problem == finished]
    assert again and "resumed" in again[0].message
    assert {t.name for t in opt2.tasks if t.baseline_ms is not None} >= chosen
