"""`kernelswarm optimize --devices/--ray` are checked as `run`'s are, and `scale.placement.place`
gives the places a spread run times on (fake GPUs here)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import kernelswarm.scale.devices as devices_module
from kernelswarm.cli import app
from kernelswarm.runconfig import RunConfig
from kernelswarm.scale.devices import DeviceError, visible_gpus
from kernelswarm.scale.placement import place

runner = CliRunner()
MODEL = str(Path(__file__).parents[1] / "optimize" / "tinynet.py")


def test_optimize_spread_options_bad_input_exit_2(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "ray", None)
    res = runner.invoke(app, ["optimize", MODEL, "--device", "cpu", "--ray", "local"])
    assert res.exit_code == 2 and "pip install 'kernelswarm[ray]'" in res.output
    res = runner.invoke(app, ["optimize", MODEL, "--devices", "cuda:0", "--device", "cpu"])
    assert res.exit_code == 2 and "--devices names GPUs" in res.output
    res = runner.invoke(app, ["optimize", MODEL, "--devices", "all", "--ray", "local"])
    assert res.exit_code == 2 and "choose one" in res.output


def test_place_gives_one_slot_per_gpu_or_none(monkeypatch) -> None:
    rows = [("0", "GPU-a", "NVIDIA H200"), ("1", "GPU-b", "NVIDIA H200"), ("2", "GPU-c", "NVIDIA H100")]
    monkeypatch.setattr(devices_module, "host_gpus", lambda: visible_gpus(rows, None))
    with place(RunConfig(device="cuda")) as slots:
        assert slots is None
    with place(RunConfig(device="cuda", devices=["cuda:1", "cuda:0"])) as slots:
        assert [s.label for s in slots] == ["cuda:1", "cuda:0"]
    with pytest.raises(DeviceError, match="one GPU model"):
        with place(RunConfig(device="cuda", devices=["cuda:0", "cuda:2"])):
            pass
