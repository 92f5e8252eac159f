"""Training mode (issue 17): the mode's plumbing, the gradient contract's helpers, and the command
line's answers to bad input. The fixtures under candidates/ (train_*) carry the verdicts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from kernelswarm.evaluate.parent.options import EvalOptions
from kernelswarm.evaluate.worker.train import TrainContract, match_params, upstream
from kernelswarm.problems.load import ProblemError, load_problem
from kernelswarm.records import Evaluation, Mode, Verdict

HERE = Path(__file__).parent
TRAIN_PROBLEM = HERE / "problems" / "train_rmsnorm_linear.py"
INFERENCE_PROBLEM = HERE / "problems" / "relu_linear.py"


def test_mode_resolution_the_flag_wins():
    train, plain = load_problem(TRAIN_PROBLEM), load_problem(INFERENCE_PROBLEM)
    assert train.mode == "train" and plain.mode is None
    assert EvalOptions().mode_for(train) is Mode.TRAIN
    assert EvalOptions().mode_for(plain) is Mode.INFERENCE
    assert EvalOptions(mode=Mode.INFERENCE).mode_for(train) is Mode.INFERENCE
    assert EvalOptions(mode=Mode.TRAIN).mode_for(plain) is Mode.TRAIN


def test_unknown_declared_mode_is_refused(tmp_path):
    path = tmp_path / "p.py"
    path.write_text(INFERENCE_PROBLEM.read_text() + '\nKERNELSWARM_MODE = "training"\n')
    with pytest.raises(ProblemError, match="choose 'train' or 'inference'"):
        load_problem(path)


def test_evaluation_round_trips_its_mode():
    ev = Evaluation(problem="p", device="cpu", verdict=Verdict.INCORRECT, reason="r", mode=Mode.TRAIN)
    assert ev.to_dict()["mode"] == "train"
    assert Evaluation.from_dict(json.loads(ev.to_json())).mode is Mode.TRAIN
    assert Evaluation.from_dict({k: v for k, v in ev.to_dict().items() if k != "mode"}).mode is Mode.INFERENCE


class _Ref(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 3)
        self.scale = nn.Parameter(torch.ones(3))


class _Prefixed(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = _Ref()


class _Renamed(nn.Module):
    def __init__(self):
        super().__init__()
        self.gain = nn.Parameter(torch.ones(3))
        self.proj = nn.Linear(4, 3)


def _same(a: list, b: list) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b))


def test_parameters_match_by_name_prefix_or_order():
    ref = _Ref()
    assert _same(match_params(ref, ref), [ref.scale, ref.lin.weight, ref.lin.bias])  # named_parameters' order
    pre = _Prefixed()
    assert _same(match_params(ref, pre), [pre.inner.scale, pre.inner.lin.weight, pre.inner.lin.bias])
    ren = _Renamed()
    assert _same(match_params(ref, ren), [ren.gain, ren.proj.weight, ren.proj.bias])
    with pytest.raises(TrainContract, match="cannot be matched"):
        match_params(ref, nn.Linear(4, 3))  # the scale is gone: its gradient could never be checked


def test_upstream_is_seeded_random_and_skips_outputs_without_gradient():
    spec = [{"shape": [5, 6], "dtype": "float32", "role": "output", "diff": True},
            {"shape": [5], "dtype": "int64", "role": "output", "diff": False},
            {"shape": [6], "dtype": "float32", "role": "grad"}]
    a, b, c = (upstream(spec, k, torch.device("cpu")) for k in (7, 7, 8))
    assert len(a) == 2 and a[1] is None
    assert torch.equal(a[0], b[0]) and not torch.equal(a[0], c[0])
    assert not torch.allclose(a[0], torch.ones_like(a[0]))  # a backward right only for ones fails


def _ks(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "KERNELSWARM_CACHE": str(tmp_path / "cache"), "KERNELSWARM_CPU_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "kernelswarm", *args], capture_output=True, text=True, env=env, timeout=600)


def test_problem_with_nothing_to_train_is_refused_with_one_line(tmp_path):
    problem = HERE / "problems" / "softmax_rows.py"  # no parameters, and its input needs no gradient
    r = _ks("eval", str(problem), str(HERE / "candidates/correct/stable_softmax.py"), "--device", "cpu",
            "--mode", "train", "--json", tmp_path=tmp_path)
    assert r.returncode == 2, r.stdout
    assert r.stdout == "" and len(r.stderr.strip().splitlines()) == 1
    assert "training mode" in r.stderr and "no trainable parameters" in r.stderr


def test_unknown_mode_flag_exits_2(tmp_path):
    r = _ks("eval", str(TRAIN_PROBLEM), str(HERE / "candidates/correct/train_same_ops.py"), "--device", "cpu",
            "--mode", "backward", tmp_path=tmp_path)
    assert r.returncode == 2 and "unknown mode" in r.stderr


def test_eval_json_carries_the_mode_and_the_flag_wins(tmp_path):
    cand = HERE / "candidates/correct/train_same_ops.py"
    r = _ks("eval", str(TRAIN_PROBLEM), str(cand), "--device", "cpu", "--json", "--mode", "inference", tmp_path=tmp_path)
    assert r.returncode in (0, 1), r.stderr
    d = json.loads(r.stdout)
    # The verdict itself may fall to the wall-clock check on a loaded machine; the trials decide here.
    (correctness,) = [c for c in d["checks"] if c["name"] == "correctness"]
    assert d["mode"] == "inference" and correctness["passed"]
    assert "outputs and gradients" not in correctness["detail"]
