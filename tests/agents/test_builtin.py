"""Built-in agents: which apply where, and that their candidate files are self-contained and correct."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
import torch

from kernelswarm.agents.base import Context
from kernelswarm.agents.builtin import NAMES, builtin_agents, embed_problem
from kernelswarm.evaluate.parent.static import screen_source
from kernelswarm.problems.load import exec_problem, load_problem

FIXTURES = Path(__file__).parents[1] / "fixtures" / "swarm" / "problems"
LINEAR = load_problem(FIXTURES / "tiny_linear.py", level=1)
CONV = load_problem(FIXTURES / "tiny_conv.py", level=2)


def _proposals(problem, device: str) -> dict[str, str]:
    out = {}
    for agent in builtin_agents():
        cands = agent.propose(problem, Context(device=device))
        assert len(cands) <= 1
        if cands:
            assert cands[0].agent == agent.name and cands[0].note
            out[agent.name] = cands[0].source
    return out


def test_applicability() -> None:
    assert set(_proposals(LINEAR, "cpu")) == {"compile", "compile-freezing"}
    assert set(_proposals(CONV, "cpu")) == {"compile", "compile-freezing", "channels-last"}
    assert set(_proposals(LINEAR, "cuda")) == set(NAMES) - {"cudnn-benchmark", "channels-last"}
    assert set(_proposals(CONV, "cuda")) == set(NAMES)
    assert builtin_agents()[0].propose(LINEAR, Context(device="cpu", round=1)) == []  # round 0 only
    with pytest.raises(ValueError, match="unknown built-in agent"):
        builtin_agents(["nope"])


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_sources_pass_the_static_screen_and_drop_input_builders(device: str) -> None:
    for problem in (LINEAR, CONV):
        for name, source in _proposals(problem, device).items():
            assert screen_source(source) == [], name
            compile(source, name, "exec")
            assert "def get_inputs" not in source and "__main__" not in source
            assert "class ModelNew(Model)" in source


def test_size_overrides_are_applied() -> None:
    assert "batch_size = 2" in embed_problem(CONV, "cpu")
    assert "batch_size = 2" not in embed_problem(CONV, "cuda")


def _load(source: str) -> types.ModuleType:
    module = types.ModuleType("ks_test_candidate")
    sys.modules[module.__name__] = module  # as the evaluator's worker does; dynamo needs it
    exec(compile(source, "candidate.py", "exec"), module.__dict__)
    return module


@pytest.mark.parametrize("name", ["channels-last", "compile"])
def test_cpu_candidates_match_the_reference(name: str) -> None:
    ref_mod = exec_problem(CONV.source, str(CONV.path), "cpu")
    cand = _load(_proposals(CONV, "cpu")[name])
    torch.manual_seed(0)
    ref = ref_mod.Model(*ref_mod.get_init_inputs()).eval()
    torch.manual_seed(0)
    new = cand.ModelNew(*ref_mod.get_init_inputs()).eval()
    assert list(new.state_dict()) == list(ref.state_dict())  # same parameter names
    x = ref_mod.get_inputs()
    with torch.no_grad():
        torch.testing.assert_close(new(*x), ref(*x), rtol=1e-4, atol=1e-4)


def test_training_mode_leaves_out_what_skips_or_breaks_a_backward() -> None:
    """Training (issue 17): torch.compile and its AOTAutograd variants, layouts and cuDNN tuning;
    never CUDA graphs replayed under no_grad, cudagraph trees or freezing."""
    def names(problem, device):
        return {a.name for a in builtin_agents() if a.propose(problem, Context(device=device, mode="train"))}

    assert names(LINEAR, "cpu") == {"compile"}
    assert names(CONV, "cpu") == {"compile", "channels-last"}
    assert names(CONV, "cuda") == {"compile", "compile-max-autotune", "cudnn-benchmark", "channels-last"}


def test_compile_candidate_trains_like_the_reference() -> None:
    """The compile variant's backward (AOTAutograd) gives the reference's gradients."""
    ref_mod = exec_problem(LINEAR.source, str(LINEAR.path), "cpu")
    (cand_src,) = [c.source for a in builtin_agents(["compile"]) for c in a.propose(LINEAR, Context(device="cpu", mode="train"))]
    cand = _load(cand_src)
    torch.manual_seed(0)
    ref = ref_mod.Model(*ref_mod.get_init_inputs())
    torch.manual_seed(0)
    new = cand.ModelNew(*ref_mod.get_init_inputs())
    x = ref_mod.get_inputs()[0]
    g = torch.randn_like(ref(x))
    ref(x).backward(g)
    new(x).backward(g)
    for (name, p), q in zip(ref.named_parameters(), new.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-5, msg=name)
