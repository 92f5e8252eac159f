"""`kernelswarm models check`: one line per model, exit 1 when any is unreachable, 2 for a bad file."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from kernelswarm.cli import app
from kernelswarm.llm.fake import FakeServer, Reply

pytestmark = pytest.mark.llm

KEY = "sk-check-SECRET-9876543210"


def _file(tmp_path, server, extra=""):
    p = tmp_path / "models.toml"
    p.write_text(
        f"""
[[models]]
name = "compat"
provider = "openai"
model = "m1"
base_url = "{server.openai_base_url}"
api_key_env = "KS_CHECK_KEY"

[[models]]
name = "claude"
provider = "anthropic"
model = "m2"
base_url = "{server.anthropic_base_url}"
api_key_env = "KS_CHECK_KEY"
{extra}"""
    )
    return p


def test_all_reachable(tmp_path, monkeypatch):
    monkeypatch.setenv("KS_CHECK_KEY", KEY)
    with FakeServer(default=Reply("ok")) as s:
        result = CliRunner().invoke(app, ["models", "check", "--models", str(_file(tmp_path, s))])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()  # stdout only: library log lines may reach stderr
    assert len(lines) == 2 and all("reachable" in ln and "'ok'" in ln for ln in lines)
    assert all(r.body["max_tokens"] == 16 for r in s.requests)


def test_unreachable_models_say_why(tmp_path, monkeypatch):
    monkeypatch.setenv("KS_CHECK_KEY", KEY)
    extra = '\n[[models]]\nname = "nokey"\nprovider = "openai"\nmodel = "m3"\napi_key_env = "KS_UNSET_VARIABLE"\n'
    monkeypatch.delenv("KS_UNSET_VARIABLE", raising=False)

    def answer(request):
        # The Anthropic model's key is refused, with the key echoed back as real servers do.
        return Reply(status=401, error="invalid x-api-key {api_key}") if request.path.endswith("/messages") else Reply("ok")

    with FakeServer(default=answer) as s:
        result = CliRunner().invoke(app, ["models", "check", "--models", str(_file(tmp_path, s, extra))])
    assert result.exit_code == 1
    out = result.output
    lines = {ln.split()[0]: ln for ln in out.strip().splitlines()}
    assert " reachable " in lines["compat"]
    assert "unreachable" in lines["claude"] and "auth" in lines["claude"]
    assert "unreachable" in lines["nokey"] and "KS_UNSET_VARIABLE is not set" in lines["nokey"]
    assert KEY not in out and KEY[:8] not in out


def test_unusable_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[[models]]\nname = 'x'\n")
    result = CliRunner().invoke(app, ["models", "check", "--models", str(bad)])
    assert result.exit_code == 2
    assert "provider" in result.output
