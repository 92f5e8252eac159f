"""Compile seeds (issue 16.3): a run's baseline keeps the compile caches its clean worker filled,
and each candidate's own cache folders start as a copy of them. A candidate then finds the
reference's kernels built, and still nothing any other candidate left: no candidate's process
ever writes into a seed."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from fixtures import CANDIDATES, PROBLEMS
from kernelswarm.agents import builtin
from kernelswarm.evaluate import EvalOptions, evaluate
from kernelswarm.evaluate.parent import forkserver
from kernelswarm.evaluate.parent.baselines import time_baselines
from kernelswarm.problems import load_problem

ISOLATION = CANDIDATES / "isolation"

# Prints how many files its inductor cache folder held when it was imported (the seed's copy).
_COUNTS = """
import os
import torch
import torch.nn as nn

_cache = os.environ["TORCHINDUCTOR_CACHE_DIR"]
_n = sum(len(files) for _, _, files in os.walk(_cache))
print(f"SEEDED {_n} files in {_cache}", flush=True)


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        return torch.relu(self.lin(x))
"""


def _options(seed: Path) -> EvalOptions:
    return EvalOptions.for_device("cpu", timeout_s=300, static_screen=False, timed_calls=10, max_timed_calls=20,
                                  cpu_threads=1, baseline_compile=False, compile_seed=str(seed))


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_candidates_start_from_the_baselines_caches_and_never_write_into_them(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(forkserver.ENV_SWITCH, raising=False)
    monkeypatch.setenv("KERNELSWARM_TEST_TAG", uuid.uuid4().hex)
    problem = load_problem(PROBLEMS / "relu_linear.py")
    seed = tmp_path / "seed"
    timed = time_baselines(problem, "cpu", timeout_s=600, keep_compiled=seed)
    assert "compile:default" in timed
    kept = _files(seed)
    assert any(name.startswith("inductor_cache/") for name in kept), sorted(kept)

    counted = evaluate(problem, _COUNTS, _options(seed))
    assert counted.verdict.value == "accepted", f"{counted.reason}\n{counted.log_tail}"
    line = next(x for x in counted.log_tail.splitlines() if x.startswith("SEEDED"))
    assert int(line.split()[1]) >= len([n for n in kept if n.startswith("inductor_cache/")]), line

    # The built-in compile agent's candidate compiles the reference's code: from the seed's copy.
    source = builtin.render(next(v for v in builtin.VARIANTS if v.name == "compile"), problem, "cpu")
    compiled = evaluate(problem, source, _options(seed))
    assert compiled.verdict.value == "accepted", f"{compiled.reason}\n{compiled.log_tail}"

    planted = evaluate(problem, (ISOLATION / "planter.py").read_text(), _options(seed))
    assert planted.verdict.value == "accepted", f"{planted.reason}\n{planted.log_tail}"
    assert "inductor_cache/ks-planted-" in planted.log_tail, planted.log_tail  # it wrote into its seeded copy
    assert _files(seed) == kept  # ...and the seed itself is as the clean worker left it
    sought = evaluate(problem, (ISOLATION / "seeker.py").read_text(), _options(seed))
    line = next((x for x in sought.log_tail.splitlines() if x.startswith("SEEKER")), "")
    assert "found: []" in line, line or sought.log_tail
    assert sought.verdict.value == "accepted", f"{sought.reason}\n{sought.log_tail}"


def test_a_missing_seed_leaves_the_caches_empty(tmp_path: Path) -> None:
    from kernelswarm.evaluate.parent.environment import copy_seed

    copy_seed(str(tmp_path / "gone"), tmp_path / "w")  # a resumed run: its baselines' seed is gone
    assert not (tmp_path / "w").exists()
    (tmp_path / "s" / "inductor_cache" / "fx").mkdir(parents=True)
    (tmp_path / "s" / "inductor_cache" / "fx" / "k").write_text("graph")
    (tmp_path / "w").mkdir()
    copy_seed(str(tmp_path / "s"), tmp_path / "w")
    assert (tmp_path / "w" / "inductor_cache" / "fx" / "k").read_text() == "graph"
