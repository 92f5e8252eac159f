"""The folder agent proposes DIR/<problem name>.py, once."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernelswarm.agents.base import Context
from kernelswarm.agents.folder import FolderAgent
from kernelswarm.agents.registry import AgentConfigError, build_agents, parse_names
from kernelswarm.problems.load import load_problem

SWARM = Path(__file__).parents[1] / "fixtures" / "swarm"


def test_proposes_the_matching_file_once() -> None:
    agent = FolderAgent(SWARM / "candidates")
    linear = load_problem(SWARM / "problems" / "tiny_linear.py")
    [c] = agent.propose(linear, Context(device="cpu"))
    assert c.source == (SWARM / "candidates" / "tiny_linear.py").read_text() and c.agent == "folder"
    assert agent.propose(linear, Context(device="cpu", round=1)) == []
    assert agent.propose(load_problem(SWARM / "problems" / "tiny_conv.py"), Context(device="cpu")) == []


def test_missing_folder_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such candidates folder"):
        FolderAgent(tmp_path / "nope")


def test_registry() -> None:
    assert parse_names("compile, channels-last cudagraph") == ["compile", "channels-last", "cudagraph"]
    names = [a.name for a in build_agents(["compile"], candidates_dir=SWARM / "candidates")]
    assert names == ["compile", "folder"]
    assert len(build_agents(None)) == len(build_agents(["builtin"]))
    with pytest.raises(AgentConfigError, match="unknown agent 'gpt'"):
        build_agents(["gpt"])
    with pytest.raises(AgentConfigError, match="no such models file"):
        build_agents(None, models_path=Path("/nonexistent/models.toml"))


def test_registry_with_a_models_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("KS_TEST_KEY_UNSET", raising=False)
    models = tmp_path / "models.toml"
    models.write_text('[[models]]\nname = "gpt"\nprovider = "openai"\nmodel = "m"\napi_key_env = "KS_TEST_KEY_UNSET"\n\n'
                      '[[models]]\nname = "local"\nprovider = "openai"\nmodel = "m"\nbase_url = "http://127.0.0.1:9/v1"\n')
    agents = build_agents(None, models)
    assert agents[-1].name == "local" and getattr(agents[-1], "billable", True)
    assert [a.name for a in build_agents(["local", "compile"], models)] == ["local", "compile"]
    with pytest.raises(AgentConfigError, match="could not be started"):
        build_agents(["gpt"], models)
    bad = tmp_path / "bad.toml"
    bad.write_text("[[models]\n")
    with pytest.raises(AgentConfigError, match="bad.toml: not valid TOML") as e:
        build_agents(None, bad)
    assert str(e.value).count("bad.toml") == 1
