"""--budget is never exceeded: a call's worst cost is reserved before it is made."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import kernelswarm.supervisor as supervisor_module
from kernelswarm.budget import Budget
from kernelswarm.cli import app
from kernelswarm.llm.fake import FakeServer, Reply
from kernelswarm.store import Store

SWARM = Path(__file__).parent / "fixtures" / "swarm" / "problems"
CODE = "```python\nimport torch\n\nclass ModelNew(torch.nn.Module):\n    pass  # ms=5.0\n```\n"


def test_reservations_bound_calls_in_flight() -> None:
    spent = [0.0]
    b = Budget(2.5, lambda: spent[0])
    assert b.reserve("a", 1.0) and b.reserve("b", 1.0)  # two calls in flight: $2 reserved
    assert not b.reserve("c", 1.0)  # a third might make it $3
    spent[0] = 0.4  # "a" cost less than its worst
    b.settle("a")
    assert b.reserve("c", 1.0) and not b.reserve("d", 1.0)  # 0.4 + 1 + 1 <= 2.5 < 3.4
    assert Budget(None, lambda: 99.0).reserve("x", 1e9)  # no budget, no limit


@pytest.mark.llm
def test_a_run_at_one_dollar_per_call_stays_within_a_budget_of_two_and_a_half(tmp_path: Path, monkeypatch) -> None:
    from test_supervisor import FakeEvaluator, fake_baselines

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KS_BUDGET_KEY", "sk-budget-test")
    monkeypatch.setattr(supervisor_module, "_real_evaluator", lambda: FakeEvaluator())
    monkeypatch.setattr(supervisor_module, "_real_baseline_timer", lambda: fake_baselines())
    # Every reply costs exactly $1: 1000 output tokens (= max_tokens) at $1000 per million, input free.
    with FakeServer(default=Reply(CODE, tokens_in=500, tokens_out=1000)) as server:
        (tmp_path / "m.toml").write_text(
            f'[[models]]\nname = "paid"\nprovider = "openai"\nmodel = "m"\nbase_url = "{server.openai_base_url}"\n'
            'api_key_env = "KS_BUDGET_KEY"\nprice_in_per_mtok = 0.0\nprice_out_per_mtok = 1000.0\nmax_tokens = 1000\n'
            "max_concurrency = 8\n")
        res = CliRunner().invoke(app, ["run", str(SWARM / "tiny_linear.py"), str(SWARM / "tiny_conv.py"),
                                       "--models", "m.toml", "--agents", "paid", "--rounds", "3", "--budget", "2.5",
                                       "--db", "k.db"])
    assert res.exit_code == 0, res.output
    store = Store("k.db", read_only=True)
    [run] = store.list_runs()
    assert store.run_cost(run.id) == pytest.approx(2.0)  # a third call might have cost $3
    assert len(server.requests) == 2
    assert "budget $2.50 reached" in res.output
