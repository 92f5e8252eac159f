"""Builds the agent list of a run from names: built-in agents, the folder agent, LLM agents."""

from __future__ import annotations

from pathlib import Path

from kernelswarm.agents.base import Agent
from kernelswarm.agents.builtin import NAMES as BUILTIN_NAMES
from kernelswarm.agents.builtin import builtin_agents
from kernelswarm.agents.folder import FolderAgent

# Group names accepted by --agents besides single agent names.
BUILTIN_GROUP = "builtin"


class AgentConfigError(ValueError):
    """The agents cannot be built as asked (unknown name, unreadable models file); one line."""


def load_llm_agents(models_path: Path | None) -> list[Agent]:
    """LLM agents from a models file; none when there is no file or LLM agents do not exist yet."""
    if models_path is None:
        return []
    if not Path(models_path).is_file():
        raise AgentConfigError(f"{models_path}: no such models file")
    try:
        from kernelswarm.agents import llm
    except ModuleNotFoundError as e:
        if e.name != "kernelswarm.agents.llm":
            raise
        return []  # LLM agents are not part of this build yet
    try:
        return list(llm.load_llm_agents(Path(models_path)))
    except Exception as e:  # a models file that does not parse is bad input, not a crash
        text = str(e).splitlines()[0] if str(e) else e.__class__.__name__
        raise AgentConfigError(text if text.startswith(str(models_path)) else f"{models_path}: {text}") from None


def default_models_path() -> Path | None:
    """The models file used when --models is not given, if there is one (see kernelswarm.config)."""
    from kernelswarm.config import default_models_path as configured

    path = configured()
    return path if path.is_file() else None


def build_agents(names: list[str] | None, models_path: Path | None = None,
                 candidates_dir: Path | None = None) -> list[Agent]:
    """The agents of a run. With no names: every built-in agent, every model of the models file,
    and the folder agent when a candidates folder is given. With names: exactly those (the
    folder agent is always included when a folder is given, as `folder`)."""
    llm_agents = load_llm_agents(models_path)
    folder: list[Agent] = [FolderAgent(candidates_dir)] if candidates_dir is not None else []
    if not names:
        return [*builtin_agents(), *llm_agents, *folder]
    by_llm = {a.name: a for a in llm_agents}
    chosen: list[Agent] = []
    for name in names:
        if name == BUILTIN_GROUP:
            chosen += builtin_agents()
        elif name in BUILTIN_NAMES:
            chosen += builtin_agents([name])
        elif name in by_llm:
            chosen.append(by_llm[name])
        elif name == "folder" and folder:
            pass  # added below
        elif models_path is not None and name in _model_names(models_path):
            raise AgentConfigError(f"agent {name!r} is in {models_path} but could not be started (is its API key set?)")
        else:
            known = [BUILTIN_GROUP, *BUILTIN_NAMES, *by_llm] + (["folder"] if folder else [])
            raise AgentConfigError(f"unknown agent {name!r}; known agents: {', '.join(known)}")
    chosen += folder
    seen: set[str] = set()
    unique = [a for a in chosen if not (a.name in seen or seen.add(a.name))]
    return unique


def parse_names(text: str | None) -> list[str] | None:
    """`--agents a,b c` -> ['a', 'b', 'c']; None when not given."""
    if not text:
        return None
    return [n for part in text.split(",") for n in part.split() if n]


def _model_names(models_path: Path) -> set[str]:
    try:
        from kernelswarm.config import load_models

        return {m.name for m in load_models(models_path)}
    except Exception:
        return set()
