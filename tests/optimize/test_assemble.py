"""The assembled model without the search: a winner swapped in as a custom operator, the original
region outside what was verified, torch.compile around it, the user's weights, no global change."""

from __future__ import annotations

import copy

import torch

from kernelswarm.optimize.assemble import Winner, apply_to, assembled_source, runtime_source
from kernelswarm.optimize.capture import capture
from kernelswarm.optimize.tasks import cut

MLP_WINNER = '''
import torch
import torch.nn as nn
import torch.nn.functional as F


class _MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.up = nn.Linear(32, 128)
        self.down = nn.Linear(128, 32)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()
        self.region = _MLP()

    def forward(self, x0):
        r = self.region
        h = torch.addmm(r.up.bias, x0.reshape(-1, 32), r.up.weight.t())
        return torch.addmm(r.down.bias, F.gelu(h, approximate="tanh"), r.down.weight.t()).reshape(x0.shape)
'''


def _assembled():
    import tinynet

    torch.manual_seed(0)
    model = tinynet.Model()
    c = cut(capture(copy.deepcopy(model), tuple(tinynet.get_inputs()), "cpu"))
    task = next(t for t in c.tasks if t.name == "blocks_mlp")
    plans = [task.plan | {"paths": task.paths}]
    source = assembled_source("import torch.nn as nn\nclass Model(nn.Module):\n    pass\n", "", plans,
                              [Winner("blocks_mlp", MLP_WINNER, "test", 1.0, 2.0)])
    return model, source


def test_runtime_passes_the_static_screen():
    from kernelswarm.evaluate.parent.static import screen_source

    assert screen_source(runtime_source()) == []
    _, source = _assembled()
    assert screen_source(source) == []


def test_winner_runs_verified_calls_only_and_stays_correct():
    import tinynet

    model, source = _assembled()
    fast = copy.deepcopy(model)
    regions = apply_to(fast, source)
    assert [r.module is fast.get_submodule(p) for r, p in zip(regions, ["blocks.0.mlp", "blocks.1.mlp"])] == [True, True]
    x = tinynet.get_inputs()[0]
    with torch.no_grad():
        want, got = model(x), fast(x)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert sum(r.fast_calls for r in regions) == 2
    # another shape: the original region, still correct
    y = torch.randint(0, 64, (3, 5))
    with torch.no_grad():
        torch.testing.assert_close(fast(y), model(y), rtol=1e-5, atol=1e-5)
    assert sum(r.fast_calls for r in regions) == 2
    # the user's weights: changing them before the first call on a device is honoured
    assert set(fast.state_dict()) == set(model.state_dict())


def test_profiler_sees_the_operator_and_compile_works_around_it():
    import tinynet

    model, source = _assembled()
    fast = copy.deepcopy(model)
    apply_to(fast, source)
    x = tinynet.get_inputs()[0]
    with torch.no_grad(), torch.profiler.profile() as prof:
        fast(x)
    names = {e.name for e in prof.events()}
    assert any(n.startswith("kernelswarm::region_") for n in names)
    compiled = torch.compile(fast)
    with torch.no_grad(), torch._inductor.config.patch(compile_threads=1):
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-5, atol=1e-5)


def test_builtin_compile_candidates_leave_global_settings_alone():
    import torch._dynamo.config
    import torch._inductor.config

    from kernelswarm.agents.builtin import VARIANTS, render
    from kernelswarm.problems.load import Problem

    problem = Problem(name="p", path=__import__("pathlib").Path("p.py"), hash="x",
                      source="import torch\nimport torch.nn as nn\nclass Model(nn.Module):\n    def forward(self, x):\n        return x * 2\n")
    before = (torch._inductor.config.freezing, torch._inductor.config.compile_threads, torch._dynamo.config.recompile_limit)
    for v in VARIANTS:
        if v.name.startswith("compile"):
            ns: dict = {}
            exec(compile(render(v, problem, "cpu"), "<candidate>", "exec"), ns)
            ns["ModelNew"]()
    assert (torch._inductor.config.freezing, torch._inductor.config.compile_threads,
            torch._dynamo.config.recompile_limit) == before


def _saved(tmp_path, torch_version=None, device="cpu"):
    """A saved folder (as OptimizedModel.save writes it) holding the MLP winner."""
    import json

    import tinynet

    from kernelswarm.optimize.tasks import fingerprint

    model, source = _assembled()
    (tmp_path / "assembled.py").write_text(source)
    task = {"name": "blocks_mlp", "hash": "h", "class": "MLP", "paths": ["blocks.0.mlp", "blocks.1.mlp"], "count": 2,
            "share": 0.3, "fingerprint": fingerprint(tinynet.Model().blocks[0].mlp), "inputs": [], "outputs": [],
            "winner": {"task": "blocks_mlp", "agent": "test", "candidate_ms": 1.0, "baseline_ms": 2.0}}
    (tmp_path / "manifest.json").write_text(json.dumps({
        "format": 1, "model_class": "Model", "device": device, "versions": {"torch": torch_version or torch.__version__},
        "choice": "assembled", "correct": True, "figures": {}, "tasks": [task], "refused": []}))
    return model


def test_load_applies_warns_and_refuses(tmp_path):
    import warnings

    import pytest
    import tinynet

    import kernelswarm

    _saved(tmp_path)
    fresh = tinynet.Model()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fast = kernelswarm.load(fresh, tmp_path)  # same machine, same code: no warning
    x = tinynet.get_inputs()[0]
    with torch.no_grad(), torch.profiler.profile() as prof:
        fast(x)
    assert any(e.name.startswith("kernelswarm::region_") for e in prof.events())
    # changed code: the task is skipped with one warning naming it, the rest still loads
    changed = tinynet.Model()
    changed.blocks[1].mlp.down = torch.nn.Linear(128, 32, bias=False)
    with pytest.warns(UserWarning, match="task blocks_mlp skipped"):
        kernelswarm.load(changed, tmp_path)
    with torch.no_grad(), torch.profiler.profile() as prof:
        changed(x)
    assert not any(e.name.startswith("kernelswarm::region_") for e in prof.events())
    # another PyTorch: a warning that the speedups were measured elsewhere
    other = tmp_path / "other"
    other.mkdir()
    _saved(other, torch_version="0.0.1")
    with pytest.warns(UserWarning, match="measured elsewhere"):
        kernelswarm.load(tinynet.Model(), other)
    with pytest.raises(ValueError, match="optimized for Model, not Linear"):
        kernelswarm.load(torch.nn.Linear(2, 2), tmp_path)


def test_load_warns_when_the_winners_cannot_run_here(tmp_path):
    """A folder optimized on a GPU, loaded on a machine without one (or onto a model left on the
    CPU): the winners never run there, and the user is told rather than left to find no speedup."""
    import pytest
    import tinynet

    import kernelswarm

    _saved(tmp_path, device="cuda")
    if torch.cuda.is_available():
        match = "the model's parameters are on cpu"
    else:
        match = "optimized on cuda, which this machine does not have"
    with pytest.warns(UserWarning, match=match):
        kernelswarm.load(tinynet.Model(), tmp_path)


def test_allowances_follow_the_share():
    from kernelswarm.optimize.search import allowances
    from kernelswarm.optimize.tasks import Task

    tasks = [Task("a", "1", "", ["a"], 1, 6.0, 0.6, "A", ""), Task("b", "2", "", ["b"], 1, 3.0, 0.3, "B", ""),
             Task("c", "3", "", ["c"], 1, 0.05, 0.005, "C", "")]
    allow = allowances(tasks, rounds=4, budget=9.0)
    assert allow["a"].rounds == 4 and allow["b"].rounds == 2
    assert allow["a"].budget_usd == pytest_approx(6.0) and allow["b"].budget_usd == pytest_approx(3.0)
    assert not allow["c"].llm and allow["c"].budget_usd == 0.0  # under 1%: no LLM call


def pytest_approx(v):
    import pytest

    return pytest.approx(v)


def test_optimize_stays_callable_once_its_package_is_imported():
    import pytest

    import kernelswarm
    import kernelswarm.optimize.api  # noqa: F401  (sets kernelswarm.optimize to the package)

    assert callable(kernelswarm.optimize)
    with pytest.raises(Exception) as e:  # reaches the real function, which refuses a non-module
        kernelswarm.optimize("not a model", ())
    assert "not callable" not in str(e.value)


def test_fingerprint_ignores_the_module_name_a_model_file_was_loaded_as():
    """`kernelswarm optimize MODEL.py` runs the file as a problem module; the user's code imports
    it by its own name: `load` must see the same, unchanged regions (it skipped every task)."""
    import tinynet

    from kernelswarm.optimize.tasks import fingerprint
    from kernelswarm.problems.load import exec_problem

    import sys

    source = open(tinynet.__file__).read()
    as_problem = exec_problem(source, tinynet.__file__, "cpu")
    sys.modules[as_problem.__name__] = as_problem  # as the command line registers MODEL.py
    torch.manual_seed(0)
    a = tinynet.Model()
    torch.manual_seed(0)
    b = as_problem.Model()
    assert type(a.blocks[0].mlp).__module__ != type(b.blocks[0].mlp).__module__
    assert fingerprint(a.blocks[0].mlp) == fingerprint(b.blocks[0].mlp)
    assert fingerprint(a.blocks[0].mlp) != fingerprint(a.blocks[0].attn)
    del sys.modules[as_problem.__name__]


def test_assembled_file_is_written_where_no_one_else_can_plant_it(tmp_path, monkeypatch):
    """adv13: `apply_to` (kernelswarm.load, optimize's result) writes the assembled source to a file
    that Triton reads kernels back from. Before, the file was /tmp/kernelswarm-assembled/<hash>.py:
    another local user made that folder first, with a link where the file goes (the user's own
    file overwritten with the source) or a file of theirs read back as the kernel's source. Now
    the folder is this process's own (0700, an unguessable name)."""
    import os
    import stat
    import tempfile

    from kernelswarm.optimize.codegen import short_hash

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    source = "def ks_assemble(model):\n    return ['adv13']\n"
    name = f"kernelswarm_assembled_{short_hash(source)}"
    planted = tmp_path / "kernelswarm-assembled"
    planted.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("the user's own file\n")
    (planted / f"{name}.py").symlink_to(victim)
    monkeypatch.setattr("kernelswarm.optimize.assemble._FOLDER", [], raising=False)
    monkeypatch.delitem(__import__("sys").modules, name, raising=False)
    assert apply_to(torch.nn.Linear(2, 2), source) == ["adv13"]
    assert victim.read_text() == "the user's own file\n"
    module = __import__("sys").modules.pop(name)
    folder = os.path.dirname(module.__file__)
    assert folder != str(planted) and os.path.dirname(folder) == str(tmp_path)
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700 and os.stat(folder).st_uid == os.getuid()
