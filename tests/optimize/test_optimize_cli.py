"""`kernelswarm optimize` end to end on the project's own model, with a hand-written C++ kernel
for one task brought through --candidates: the assembled model runs it (the profiler sees its
operator), stays correct, and the command reports what it did; the saved folder loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).parent
SRC = HERE.parents[1] / "src"
KEYS = {"model", "device", "correct", "speedup_vs_eager", "speedup_vs_compile", "out", "tasks", "speedup_ci",
        "speedup_vs_compile_ci", "choice", "reason", "mode", "steps", "notes"}
TASK_KEYS = {"name", "count", "share", "baseline_ms", "best_ms", "speedup", "speedup_ci", "agent"}


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(SRC))
    return subprocess.run([sys.executable, "-m", "kernelswarm", "optimize", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=1500)


def test_bad_input_is_one_line(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import torch\nclass Model(torch.nn.Module):\n    def forward(self, x):\n        return x @ x\n"
                   "def get_inputs():\n    return [torch.randn(2, 3)]\ndef get_init_inputs():\n    return []\n")
    r = _cli(str(bad), "--device", "cpu", cwd=tmp_path)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "fails on the example inputs" in r.stderr
    r = _cli(str(tmp_path / "missing.py"), "--device", "cpu", cwd=tmp_path)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    r = _cli(str(HERE / "tinynet.py"), "--device", "cpu", "--mode", "bogus", cwd=tmp_path)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "unknown mode" in r.stderr
    frozen = tmp_path / "frozen.py"
    frozen.write_text("import torch\nclass Model(torch.nn.Module):\n    def forward(self, x):\n        return x * 2\n"
                      "def get_inputs():\n    return [torch.randn(2, 3)]\ndef get_init_inputs():\n    return []\n")
    r = _cli(str(frozen), "--device", "cpu", "--mode", "train", cwd=tmp_path)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "no trainable parameters" in r.stderr


@pytest.mark.slow
@pytest.mark.xfail(strict=False, reason="issue 13, open: on this 2-core CPU the folder kernel's gain (claimed "
                   "1.38-1.39x) is more than the wall clock confirms even at load 1 (vouched 0.93x: 0.23 ms a call "
                   "of noise), so its task is undecided and eager stands; under load 8-9 the clocks rejected it as a "
                   "liar in 2 of 4 evaluations before session 19 (docs/benchmarks.md, session 19, liar19)")
def test_hand_written_kernel_end_to_end(tmp_path):
    r = _cli(str(HERE / "tinynet.py"), "--device", "cpu", "--agents", "folder", "--candidates", str(HERE / "candidates"),
             "--db", str(tmp_path / "ks.db"), "--out", str(tmp_path / "out"), "--tasks-out", str(tmp_path / "tasks"),
             "--no-compile", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    result = json.loads(r.stdout)
    assert set(result) == KEYS and result["correct"] is True
    assert all(set(t) == TASK_KEYS for t in result["tasks"])
    mlp = next(t for t in result["tasks"] if t["name"] == "blocks_mlp")
    assert mlp["count"] == 2 and mlp["agent"] == "folder", result
    assert result["speedup_vs_eager"] >= 1.0
    if result["choice"] == "assembled":  # kept only past the gain bar, by its paired interval
        assert result["speedup_ci"][0] >= 1.02 and "clears 1.02x" in result["reason"], result
    else:
        assert result["choice"] == "eager" and "stands" in result["reason"], result
    assert (tmp_path / "tasks" / "blocks_mlp.py").is_file()
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["model_class"] == "Model" and (tmp_path / "out" / "winners" / "blocks_mlp.py").is_file()

    import kernelswarm
    import tinynet

    torch.manual_seed(1)
    fresh = tinynet.Model()
    ref = tinynet.Model()
    ref.load_state_dict(fresh.state_dict())
    if manifest["choice"] == "assembled":
        fast = kernelswarm.load(fresh, tmp_path / "out")
        x = tinynet.get_inputs()[0]
        with torch.no_grad(), torch.profiler.profile() as prof:
            got = fast(x)
        names = {e.name for e in prof.events()}
        assert "ks_tinynet::mlp" in names  # the hand-written kernel ran inside the assembled model
        with torch.no_grad():
            torch.testing.assert_close(got, ref(x), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="optimized for Model"):
        kernelswarm.load(torch.nn.Linear(2, 2), tmp_path / "out")


def test_output_folders_that_cannot_be_folders_are_refused_first(tmp_path):
    """--out and --tasks-out are checked before any work: a file in the folder's place (or above
    it) was a traceback after the cut (--tasks-out) or after the whole search (--out)."""
    (tmp_path / "afile").write_text("")
    for flag, value in (("--tasks-out", "afile"), ("--out", "afile"), ("--out", "afile/sub")):
        r = _cli(str(HERE / "tinynet.py"), "--device", "cpu", flag, value, "--db", str(tmp_path / "ks.db"), cwd=tmp_path)
        assert r.returncode == 2, (flag, r.stderr[-1000:])
        assert len(r.stderr.strip().splitlines()) == 1 and "is a file, not a folder" in r.stderr and flag in r.stderr
    assert not (tmp_path / "ks.db").exists()  # refused before the store was opened


def test_api_refuses_a_tasks_out_file(tmp_path):
    import tinynet

    import kernelswarm
    from kernelswarm.optimize.api import OptimizeError

    (tmp_path / "afile").write_text("")
    with pytest.raises(OptimizeError, match="is a file, not a folder"):
        kernelswarm.optimize(tinynet.Model(), tuple(tinynet.get_inputs()), device="cpu",
                             tasks_out=str(tmp_path / "afile"), db=str(tmp_path / "ks.db"))


def test_candidates_matching_no_task_are_named():
    """`--candidates DIR` matches `DIR/<task name>.py` by name, as `run` matches problem names; a
    file that names no task (a typo) is never tried, so the result's notes name it."""
    import tempfile

    from kernelswarm.optimize.search import unmatched_candidates

    tasks = [type("T", (), {"name": n})() for n in ("blocks_mlp", "blocks_attn")]
    with tempfile.TemporaryDirectory() as d:
        for f in ("blocks_mlp.py", "blocks-attn.py", "helpers.txt", "_shared.py"):
            (Path(d) / f).write_text("")
        assert unmatched_candidates(d, tasks) == ["blocks-attn.py"]
    assert unmatched_candidates(None, tasks) == []
