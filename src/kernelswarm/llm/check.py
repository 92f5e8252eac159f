"""Ping each configured model with a tiny request: reachable or not, and why."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from kernelswarm.config import ModelConfig
from kernelswarm.llm import LLMError, make_client

PING_SYSTEM = "You are a health check."
PING_USER = "Reply with the single word: ok"


@dataclass(frozen=True)
class ModelCheck:
    """The outcome of pinging one model."""

    name: str  # the model's `name` from the models file
    model: str  # the provider's model id
    endpoint: str  # base_url, or the provider's default
    reachable: bool
    detail: str  # latency and reply when reachable, else the error kind and message (never a key)
    latency_s: float | None = None


def check_model(config: ModelConfig, backoff_s: float = 1.0) -> ModelCheck:
    # Small and quick: a handful of tokens and one retry, so a check never costs real money.
    quick = config.model_copy(update={"max_tokens": 16, "max_retries": 1, "timeout_s": min(config.timeout_s, 60.0)})
    endpoint = config.base_url or f"{config.provider} default"
    try:
        completion = make_client(quick, backoff_s=backoff_s).complete(PING_SYSTEM, PING_USER)
    except LLMError as e:
        return ModelCheck(config.name, config.model, endpoint, False, f"{e.kind}: {e}")
    reply = " ".join(completion.text.split())[:40] or "(empty reply)"
    detail = f"{completion.latency_s:.2f} s, {completion.tokens_in}+{completion.tokens_out} tokens, replied {reply!r}"
    return ModelCheck(config.name, config.model, endpoint, True, detail, completion.latency_s)


def check_models(configs: list[ModelConfig], backoff_s: float = 1.0) -> list[ModelCheck]:
    """Check all models at once (each check waits on the network), in the file's order."""
    if not configs:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(configs))) as pool:
        return list(pool.map(lambda c: check_model(c, backoff_s), configs))
