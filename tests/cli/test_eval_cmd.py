"""`kernelswarm eval` as a user calls it: JSON contract, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EVAL = Path(__file__).parents[1] / "evaluate"
PROBLEM = EVAL / "problems" / "relu_linear.py"


def _ks(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "KERNELSWARM_CACHE": str(tmp_path / "cache"), "KERNELSWARM_CPU_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "kernelswarm", *args], capture_output=True, text=True, env=env, timeout=600)


def test_accepted_candidate_json(tmp_path):
    r = _ks("eval", str(PROBLEM), str(EVAL / "candidates/correct/same_ops.py"), "--device", "cpu", "--json", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    for key in ("problem", "device", "verdict", "reason", "correct", "kind", "reference_ms", "candidate_ms", "speedup", "checks"):
        assert key in d
    assert d["verdict"] == "accepted" and d["correct"] is True and d["kind"] == "pytorch-rewrite"
    assert d["speedup"] == pytest.approx(d["reference_ms"] / d["candidate_ms"])
    assert all({"name", "passed", "detail"} <= set(c) for c in d["checks"])
    assert d["problem_flags"] == []


def test_flagged_problem_is_marked_in_json_and_summary(tmp_path):
    """Issue 13.5: an always-zero problem gave an accepted 25.5x with no warning."""
    problem = Path(__file__).parents[1] / "problems" / "fixtures" / "degenerate" / "always_zero.py"
    cand = tmp_path / "zeros.py"
    cand.write_text("import torch\nimport torch.nn as nn\n\n\nclass ModelNew(nn.Module):\n"
                    "    def forward(self, x):\n        return torch.zeros_like(x)\n")
    r = _ks("eval", str(problem), str(cand), "--device", "cpu", "--json", tmp_path=tmp_path)
    d = json.loads(r.stdout)
    assert d["verdict"] == "accepted", d["reason"]
    assert any("zeros would pass" in f for f in d["problem_flags"]), d["problem_flags"]
    cached = json.loads((tmp_path / "cache" / "screenings.json").read_text())
    assert list(cached.values()) == [d["problem_flags"]]  # screened once, kept by the problem's hash
    r = _ks("eval", str(problem), str(cand), "--device", "cpu", tmp_path=tmp_path)
    assert "problem flagged" in r.stdout and "zeros would pass" in r.stdout


def test_incorrect_candidate_exits_1_with_readable_summary(tmp_path):
    r = _ks("eval", str(PROBLEM), str(EVAL / "candidates/wrong/wrong_activation.py"), "--device", "cpu", tmp_path=tmp_path)
    assert r.returncode == 1
    assert "incorrect" in r.stdout and "correctness" in r.stdout


@pytest.mark.parametrize("problem_text, message", [
    (None, "no such file"),
    ("import torch\nclass Model(:\n", "syntax error"),
    ("import torch\ndef get_inputs():\n    return []\n", "no `Model`"),
    ("import torch\nclass Model:\n    pass\n", "no `get_inputs`"),
])
def test_unusable_problem_exits_2_with_one_line(tmp_path, problem_text, message):
    path = tmp_path / "problem.py"
    if problem_text is not None:
        path.write_text(problem_text)
    r = _ks("eval", str(path), str(EVAL / "candidates/correct/same_ops.py"), "--device", "cpu", "--json", tmp_path=tmp_path)
    assert r.returncode == 2
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert r.stdout == ""


def test_missing_candidate_and_bad_options_exit_2(tmp_path):
    r = _ks("eval", str(PROBLEM), str(tmp_path / "nope.py"), "--device", "cpu", tmp_path=tmp_path)
    assert r.returncode == 2 and "no such file" in r.stderr
    r = _ks("eval", str(PROBLEM), str(EVAL / "candidates/correct/same_ops.py"), "--precision", "int4", tmp_path=tmp_path)
    assert r.returncode == 2 and "precision" in r.stderr


def test_help_does_not_import_torch(tmp_path):
    code = "import sys; sys.argv=['kernelswarm','--help']\ntry:\n    from kernelswarm.cli import main; main()\nexcept SystemExit: pass\nprint('torch' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip().endswith("False"), r.stdout
    for cmd in ("eval", "run", "report", "export", "problems", "models", "profile"):
        assert cmd in r.stdout
