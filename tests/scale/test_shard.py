"""`run --shard K/N` splits a problem list deterministically; `report`/`export` join the shards."""

from __future__ import annotations

import json
import random
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest
from scale_fakes import CONV, LINEAR, SWARM
from typer.testing import CliRunner

from kernelswarm.cli import app
from kernelswarm.scale.shard import Shard
from kernelswarm.store import Store

runner = CliRunner()


@dataclass(frozen=True)
class P:
    name: str
    level: int | None


@pytest.mark.parametrize("text", ["", "3", "0/4", "5/4", "1/0", "a/b", "-1/2", "1/2/3"])
def test_bad_shard_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="--shard"):
        Shard.parse(text)


def test_shards_cover_the_list_once_whatever_its_order() -> None:
    problems = [P(f"p{i:03d}", 1 + i % 3) for i in range(89)]
    n = 4
    parts = [Shard.parse(f"{k}/{n}").take(problems) for k in range(1, n + 1)]
    names = [p.name for part in parts for p in part]
    assert sorted(names) == sorted(p.name for p in problems) and len(set(names)) == len(names)
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    for part in parts:  # every shard gets a share of every level
        assert {p.level for p in part} == {1, 2, 3}
    shuffled = problems[:]
    random.Random(7).shuffle(shuffled)
    assert [Shard(2, n).take(shuffled)] == [parts[1]]  # the listing order does not matter


def test_shards_run_separately_and_report_as_one(tmp_path: Path, monkeypatch, fake) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["run", str(SWARM / "problems"), "--device", "cpu", "--agents", "compile-freezing"]
    for k in (1, 2):
        res = runner.invoke(app, [*args, "--shard", f"{k}/2", "--db", f"s{k}.db"])
        assert res.exit_code == 0, res.output
        assert f"1 problem(s) (shard {k}/2)" in res.output
    taken = [{r.name for r in Store(f"s{k}.db").problem_results(1)} for k in (1, 2)]
    assert taken[0] | taken[1] == {"tiny_conv", "tiny_linear"} and not taken[0] & taken[1]
    assert Store("s1.db").run(1).config["shard"] == "1/2"  # stored: --resume keeps the same part

    res = runner.invoke(app, ["report", "--db", "s1.db", "--db", "s2.db", "--out", "rep", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert sorted(p["name"] for p in data["problems"]) == ["tiny_conv", "tiny_linear"]
    assert data["overall"]["n"] == 2 and "2 stores as one run" in data["title"]
    assert data["status"] == "finished"
    # The device line counts every shard's evaluations, not the first store's alone.
    each = [sum(c.verdict is not None for c in Store(f"s{k}.db").candidates(1)) for k in (1, 2)]
    assert all(each) and f"device: {sum(each)} candidate evaluations" in res.output, res.output
    # Shards run on several nodes: each evaluation says which machine timed it, and the report says
    # how many each timed (the terminal, the page, the JSON's attempts).
    host = socket.gethostname()
    assert all(c.timed_on == host for k in (1, 2) for c in Store(f"s{k}.db").candidates(1) if c.verdict)
    assert f"timed on (evaluations): {host}: {sum(each)}" in res.output, res.output
    assert f"timed on (evaluations): {host}: {sum(each)}" in (tmp_path / "rep" / "index.html").read_text()
    assert {a["timed_on"] for p in data["problems"] for a in p["attempts"] if a["verdict"]} == {host}
    # Per agent, the shards' attempts add up (one agent here, both problems).
    [agent] = [a for a in data["agents"] if a["agent"] == "compile-freezing"]
    assert agent["evaluated"] == sum(each), data["agents"]

    res = runner.invoke(app, ["export", "--db", "s1.db", "--db", "s2.db", "--out", "best"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "best").iterdir()) == ["tiny_conv.py", "tiny_linear.py"]
    for f in (tmp_path / "best").iterdir():  # the winner's file says which machine timed it
        assert f"# timed on: {host}" in f.read_text() or "# agent: none" in f.read_text()


def test_joining_stores_that_are_not_shards_of_one_run_exits_2(tmp_path: Path, monkeypatch, fake) -> None:
    monkeypatch.chdir(tmp_path)
    for db in ("a.db", "b.db"):
        res = runner.invoke(app, ["run", LINEAR, CONV, "--device", "cpu", "--agents", "compile", "--db", db])
        assert res.exit_code == 0, res.output
    for cmd in (["report", "--out", "rep"], ["export", "--out", "best"]):
        res = runner.invoke(app, [*cmd, "--db", "a.db", "--db", "b.db"])
        assert res.exit_code == 2 and "is in both" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["report", "--db", "a.db", "--db", "b.db", "--run", "1"])
    assert res.exit_code == 2 and "--run" in res.output
    res = runner.invoke(app, ["run", LINEAR, "--shard", "3/2"])
    assert res.exit_code == 2 and "K must be between 1 and N" in res.output


def test_an_empty_shard_says_so_and_succeeds(tmp_path: Path, monkeypatch, fake) -> None:
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["run", LINEAR, "--device", "cpu", "--shard", "2/2"])
    assert res.exit_code == 0 and "no problems fall in this shard" in res.output
