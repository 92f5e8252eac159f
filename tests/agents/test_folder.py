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
