"""`kernelswarm report` and `kernelswarm profile` on the command line."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from kernelswarm.cli import app

runner = CliRunner()


def test_report_writes_html_and_json(store_path, tmp_path):
    out = tmp_path / "out"
    r = runner.invoke(app, ["report", "--db", str(store_path), "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    assert (out / "index.html").read_text().startswith("<!DOCTYPE html>")
    assert json.loads((out / "report.json").read_text())["run_id"] == 1


def test_report_unusable_input_exits_2(store_path, tmp_path):
    r = runner.invoke(app, ["report", "--db", str(tmp_path / "absent.db")])
    assert r.exit_code == 2 and "no such database" in r.output
    r = runner.invoke(app, ["report", "--db", str(store_path), "--run", "99", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "no run 99" in r.output
    junk = tmp_path / "junk.db"
    junk.write_text("not sqlite at all " * 100)
    r = runner.invoke(app, ["report", "--db", str(junk), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "cannot read the store" in r.output


def test_profile_unusable_input_exits_2(tmp_path):
    r = runner.invoke(app, ["profile", str(tmp_path / "absent.py"), "--device", "cpu"])
    assert r.exit_code == 2 and "no such file" in r.output
    problem = tmp_path / "p.py"
    problem.write_text("import torch\nclass Model(torch.nn.Module):\n    pass\ndef get_inputs():\n    return []\n")
    r = runner.invoke(app, ["profile", str(problem), str(tmp_path / "absent_candidate.py"), "--device", "cpu"])
    assert r.exit_code == 2 and "no such file" in r.output
    r = runner.invoke(app, ["profile", str(problem), "--device", "tpu"])
    assert r.exit_code == 2 and "unknown device" in r.output
