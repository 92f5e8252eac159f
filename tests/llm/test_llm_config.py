"""The models file: typed settings, one-line errors, the default location."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kernelswarm.config import ConfigError, ModelConfig, default_models_path, load_models

pytestmark = pytest.mark.llm

DOCS = Path(__file__).resolve().parents[2] / "docs" / "models.md"


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "models.toml"
    p.write_text(text)
    return p


def test_loads_a_full_entry_with_defaults(tmp_path):
    p = _write(
        tmp_path,
        """
[[models]]
name = "gpt"
provider = "openai"
model = "gpt-5"
api_key_env = "OPENAI_API_KEY"
price_in_per_mtok = 1.25
price_out_per_mtok = 10.0

[[models]]
name = "local"
provider = "openai"
model = "qwen"
base_url = "http://localhost:8000/v1"
max_concurrency = 2
temperature = 0.2
""",
    )
    gpt, local = load_models(p)
    assert isinstance(gpt, ModelConfig)
    assert (gpt.name, gpt.provider, gpt.model, gpt.api_key_env) == ("gpt", "openai", "gpt-5", "OPENAI_API_KEY")
    assert gpt.base_url is None and gpt.max_concurrency == 4 and gpt.stream
    assert local.api_key_env is None and local.max_concurrency == 2 and local.temperature == 0.2
    assert local.price_in_per_mtok is None


def test_docs_example_is_a_valid_models_file(tmp_path):
    # The example in docs/models.md is what users copy: it must load.
    text = DOCS.read_text()
    block = re.search(r"```toml\n(.*?)```", text, re.DOTALL)
    assert block, "docs/models.md has no ```toml example"
    models = load_models(_write(tmp_path, block.group(1)))
    providers = {m.provider for m in models}
    assert providers == {"openai", "anthropic"}
    assert len(models) >= 6


@pytest.mark.parametrize(
    "text, message",
    [
        ("not toml [[", "not valid TOML"),
        ("x = 1", "no [[models]] tables"),
        ('[[models]]\nname = "a"\nprovider = "openai"\nmodel = "m"\nmax_concurency = 3', "max_concurency: unknown key"),
        ('[[models]]\nname = "a"\nprovider = "gemini"\nmodel = "m"', "provider"),
        ('[[models]]\nname = "a"\nprovider = "openai"', "model"),
        ('[[models]]\nname = "a"\nprovider = "openai"\nmodel = "m"\nmax_concurrency = 0', "max_concurrency"),
        ('[[models]]\nname = "a"\nprovider = "openai"\nmodel = "m"\n[[models]]\nname = "a"\nprovider = "openai"\nmodel = "n"', "duplicate model name(s): a"),
        ('[[models]]\nname = "a b"\nprovider = "openai"\nmodel = "m"', "name"),
    ],
)
def test_bad_files_give_one_line_errors(tmp_path, text, message):
    with pytest.raises(ConfigError) as e:
        load_models(_write(tmp_path, text))
    assert message in str(e.value)
    assert "\n" not in str(e.value)
    assert str(tmp_path) in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_models(tmp_path / "nope.toml")


def test_a_key_pasted_into_api_key_env_is_refused_without_echoing_it(tmp_path):
    key = "sk-proj-abcdefghijklmnop0123456789"
    p = _write(tmp_path, f'[[models]]\nname = "a"\nprovider = "openai"\nmodel = "m"\napi_key_env = "{key}"')
    with pytest.raises(ConfigError) as e:
        load_models(p)
    assert "api_key_env" in str(e.value)
    assert key not in str(e.value)


def test_default_models_path_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KERNELSWARM_MODELS", raising=False)
    assert default_models_path() == tmp_path / "home" / ".config" / "kernelswarm" / "models.toml"
    (tmp_path / "kernelswarm.models.toml").write_text("")
    assert default_models_path() == tmp_path / "kernelswarm.models.toml"
    monkeypatch.setenv("KERNELSWARM_MODELS", str(tmp_path / "elsewhere.toml"))
    assert default_models_path() == tmp_path / "elsewhere.toml"
