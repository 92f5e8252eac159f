"""Model clients over the official `openai` and `anthropic` SDKs, and their costs.

The SDKs are imported only when a client is made, so importing this package stays cheap.
"""

from __future__ import annotations

import os

from kernelswarm import redact
from kernelswarm.config import ModelConfig
from kernelswarm.llm.base import Completion, LLMError, ModelClient
from kernelswarm.llm.pricing import cost_usd


def read_api_key(config: ModelConfig) -> str | None:
    """The key from the environment variable the model names; LLMError when it is unset.

    The only place a key is read: it goes straight into the SDK client and nowhere else.
    """
    if config.api_key_env is None:
        return None
    redact.register_names([config.api_key_env])  # its value is a secret whatever the name (redact.py)
    key = os.environ.get(config.api_key_env, "").strip()
    if not key:
        raise LLMError(f"{config.name}: environment variable {config.api_key_env} is not set", "config")
    return key


def make_client(config: ModelConfig, backoff_s: float = 1.0) -> ModelClient:
    """A client for one configured model. Raises LLMError when its key is missing."""
    key = read_api_key(config)
    if config.provider == "anthropic":
        from kernelswarm.llm.anthropic_client import AnthropicClient

        return AnthropicClient(config, key, backoff_s=backoff_s)
    from kernelswarm.llm.openai_client import OpenAIClient

    return OpenAIClient(config, key, backoff_s=backoff_s)


__all__ = ["Completion", "LLMError", "ModelClient", "cost_usd", "make_client", "read_api_key"]
