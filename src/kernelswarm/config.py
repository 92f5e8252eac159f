"""Typed settings: the models file (TOML), one table per model. See docs/models.md.

API keys are never part of these settings: a model names the environment variable that holds
its key, and only the model client reads that variable, when it is created.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python 3.10
    import tomli as tomllib

MODELS_ENV = "KERNELSWARM_MODELS"  # overrides where the models file is looked up
LOCAL_MODELS_FILE = "kernelswarm.models.toml"  # a models file next to where the run starts


class ConfigError(ValueError):
    """A settings file that cannot be used; the message is one line and names the file."""


class ModelConfig(BaseModel):
    """One configured model: which server to ask, how hard, and what it costs."""

    # Unknown keys are errors: a misspelt `max_concurency` must not silently do nothing.
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str  # label used by --agents and in reports; unique within the file
    provider: Literal["openai", "anthropic"]  # openai = any OpenAI-compatible server
    model: str  # the provider's model id, e.g. "gpt-5" or "claude-sonnet-4-5"
    base_url: str | None = None  # for DeepSeek, Gemini's compatible endpoint, vLLM, Ollama ...
    api_key_env: str | None = None  # environment variable holding the key; None for keyless local servers
    max_concurrency: int = Field(default=4, ge=1)  # requests in flight to this model at once
    price_in_per_mtok: float | None = Field(default=None, ge=0)  # USD per million prompt tokens
    price_out_per_mtok: float | None = Field(default=None, ge=0)  # USD per million completion tokens
    temperature: float | None = Field(default=None, ge=0)  # None: the server's default
    max_tokens: int = Field(default=16000, ge=1)  # reply length cap; kernels with comments run long
    timeout_s: float = Field(default=600.0, gt=0)  # per request (per chunk when streaming)
    stream: bool = True  # stream replies: long generations stay alive behind proxies
    max_retries: int = Field(default=4, ge=0)  # on 429, 5xx, timeouts and dropped connections
    languages: list[str] | None = None  # restrict kernel languages, e.g. ["triton"]; None: all for the device

    @field_validator("name")
    @classmethod
    def _name_is_a_label(cls, v: str) -> str:
        # Names appear in --agents lists and file names, so keep them to a safe alphabet.
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", v):
            raise ValueError("must be letters, digits, '.', '_' or '-'")
        return v

    @field_validator("api_key_env")
    @classmethod
    def _env_is_a_name(cls, v: str | None) -> str | None:
        # A common mistake is pasting the key itself here; refuse it without echoing it.
        if v is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v):
            raise ValueError("must be the name of an environment variable (the key itself belongs in that variable)")
        return v

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, v: list[str] | None) -> list[str] | None:
        known = {"triton", "cuda", "cpp", "metal"}
        if v is not None and (not v or set(v) - known):
            raise ValueError(f"must be a non-empty list drawn from {', '.join(sorted(known))}")
        return v


def default_models_path() -> Path:
    """$KERNELSWARM_MODELS, else ./kernelswarm.models.toml when present, else ~/.config/kernelswarm/models.toml."""
    env = os.environ.get(MODELS_ENV)
    if env:
        return Path(env).expanduser()
    local = Path.cwd() / LOCAL_MODELS_FILE
    if local.is_file():
        return local
    return Path.home() / ".config" / "kernelswarm" / "models.toml"


def load_models(path: str | Path) -> list[ModelConfig]:
    """Read a models file. Raises ConfigError with a one-line message for any unusable file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read ({e.__class__.__name__})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({_one_line(str(e))})") from None
    tables = data.get("models")
    if not isinstance(tables, list) or not tables:
        raise ConfigError(f"{path}: no [[models]] tables")
    unknown = set(data) - {"models"}
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key(s): {', '.join(sorted(unknown))}")
    models: list[ModelConfig] = []
    for i, table in enumerate(tables):
        label = table.get("name", f"#{i + 1}") if isinstance(table, dict) else f"#{i + 1}"
        try:
            models.append(ModelConfig.model_validate(table))
        except ValidationError as e:
            raise ConfigError(f"{path}: model {label}: {_first_error(e)}") from None
    names = [m.name for m in models]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{path}: duplicate model name(s): {', '.join(dupes)}")
    return models


def _first_error(e: ValidationError) -> str:
    # Only the location and message: pydantic's default text includes the input value, which
    # could be a key pasted into the wrong field.
    err = e.errors()[0]
    loc = ".".join(str(p) for p in err.get("loc", ())) or "table"
    msg = "unknown key" if err.get("type") == "extra_forbidden" else err.get("msg", "invalid")
    more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
    return f"{loc}: {msg}{more}"


def _one_line(text: str) -> str:
    return " ".join(text.split())
