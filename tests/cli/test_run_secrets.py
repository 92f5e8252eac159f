"""Issue 14.3 end to end: `kernelswarm run` with an API key in its environment and a model that
answers with hostile code trying every route to the key leaves no trace of it anywhere: not in
the store's bytes, the report, the terminal, nor the prompts the model server received."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from kernelswarm.llm.fake import FakeServer, Reply

TESTS = Path(__file__).parents[1]
SRC = str(TESTS.parent / "src")
sys.path.insert(0, str(TESTS / "evaluate"))
import hostile  # noqa: E402

LINEAR = str(TESTS / "fixtures" / "swarm" / "problems" / "tiny_linear.py")

_DRIVER = """
import sys
import kernelswarm.evaluate.parent.run as run
run.screen_source = lambda source: []  # the hostile code must reach the worker, not the screen
from kernelswarm.cli import app
app(sys.argv[1:])
"""


@pytest.mark.slow
@pytest.mark.llm
def test_run_with_a_hostile_model_leaves_no_trace_of_the_key(tmp_path: Path) -> None:
    key = "sk-kstest-" + uuid.uuid4().hex + uuid.uuid4().hex[:10]
    digest = hashlib.sha256(key.encode()).hexdigest()
    answers = [hostile.smuggler(attr="linear"), hostile.smuggler(attr="linear", raise_=True)]

    def answer(request) -> Reply:  # the first round's code is accepted, the second's raises the loot
        n = len(server.requests)
        return Reply("Here is a faster kernel.\n```python\n" + answers[min(n - 1, 1)] + "\n```")

    with FakeServer(default=answer) as server:
        models = tmp_path / "models.toml"
        models.write_text(f'[[models]]\nname = "hostile"\nprovider = "openai"\nmodel = "fake"\n'
                          f'base_url = "{server.openai_base_url}"\napi_key_env = "KS_E2E_LLM"\nstream = false\n')
        env = {**os.environ, "PYTHONPATH": SRC, "KS_E2E_LLM": key, "OPENAI_API_KEY": key, "COLUMNS": "200"}
        args = ["run", LINEAR, "--device", "cpu", "--agents", "hostile", "--models", str(models), "--rounds", "2",
                "--db", "run.db"]
        proc = subprocess.run([sys.executable, "-c", _DRIVER, *args], env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=1500)
        bodies = [json.dumps(r.body) for r in server.requests]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(bodies) == 2, "both rounds asked the model"
    import sqlite3

    rows = sqlite3.connect(tmp_path / "run.db").execute("SELECT verdict, reason FROM evaluations").fetchall()
    assert len(rows) == 2 and all(not r[1].startswith("static") for r in rows), rows
    assert any(r[0] == "accepted" for r in rows), rows  # the smuggler ran: its loot had somewhere to go
    places = {"stdout": proc.stdout, "stderr": proc.stderr, **{f"prompt {i}": b for i, b in enumerate(bodies)}}
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.suffix != ".toml":
            places[str(path.relative_to(tmp_path))] = path.read_bytes().decode(errors="replace")
    assert any(name.endswith(".html") for name in places), "the run wrote its report"
    for name, text in places.items():
        assert key not in text, f"the key is in {name}"
        assert digest not in text, f"the candidate could read the key ({name} has its hash)"
