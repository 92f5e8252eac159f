"""A problem whose reference cannot import a module beside it: the one-line error says how to bring
it (the problem's folder is not on a worker's import path: a project keeps its keys there)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kernelswarm.problems.load import reference_failed

PROBLEM = """import torch
from helper import SCALE


class Model(torch.nn.Module):
    def forward(self, x):
        return x * SCALE


def get_inputs():
    return [torch.randn(8, 8)]


def get_init_inputs():
    return []
"""


def test_a_module_beside_the_problem_is_named_with_the_way_to_bring_it(tmp_path):
    (tmp_path / "helper.py").write_text("SCALE = 2.0\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    msg = str(reference_failed(tmp_path / "prob.py", "ModuleNotFoundError: No module named 'helper'"))
    assert msg.startswith(f"{tmp_path / 'prob.py'}: the reference fails to run: ModuleNotFoundError")
    assert f"PYTHONPATH={tmp_path.resolve()}" in msg and "\n" not in msg
    assert "PYTHONPATH=" in str(reference_failed(tmp_path / "prob.py", "No module named 'pkg.sub'"))
    # Not beside it, or another failure: the worker's message alone.
    assert "PYTHONPATH" not in str(reference_failed(tmp_path / "prob.py", "No module named 'elsewhere'"))
    assert "PYTHONPATH" not in str(reference_failed(tmp_path / "prob.py", "RuntimeError: shapes differ"))


def test_eval_of_such_a_problem_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "helper.py").write_text("SCALE = 2.0\n")
    (tmp_path / "prob.py").write_text(PROBLEM)
    (tmp_path / "cand.py").write_text(PROBLEM.replace("class Model(", "class ModelNew("))
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"),
           "HOME": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "kernelswarm", "eval", str(tmp_path / "prob.py"), str(tmp_path / "cand.py"),
                        "--device", "cpu"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert r.returncode == 2, r.stderr
    # Another kernelswarm judging on this machine (outside checks run beside other work) adds its
    # one "waiting for cpu" line first: that line is the lock's, not this error's.
    lines = [line for line in r.stderr.splitlines() if line.strip() and not line.startswith("kernelswarm: waiting for ")]
    assert len(lines) == 1 and "No module named 'helper'" in lines[0] and f"PYTHONPATH={tmp_path.resolve()}" in lines[0], r.stderr
