"""A client for Claude over the official `anthropic` SDK (the messages API)."""

from __future__ import annotations

import time
from typing import Any, Callable

from kernelswarm.config import ModelConfig
from kernelswarm.llm.base import Completion, Limiter, RetryPolicy, classify_status, retry_after_s, with_retries


class AnthropicClient:
    def __init__(
        self,
        config: ModelConfig,
        api_key: str | None,
        backoff_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import anthropic  # lazy: `kernelswarm --help` must not import the SDKs

        self.name = config.name
        self.config = config
        self._anthropic = anthropic
        self._secret = api_key
        # The SDK's own retries are off: ours log, honour Retry-After and count attempts.
        self._client = anthropic.Anthropic(
            api_key=api_key or "no-key",
            base_url=config.base_url,
            timeout=config.timeout_s,
            max_retries=0,
        )
        self._limiter = Limiter(config.max_concurrency)
        self._policy = RetryPolicy(max_retries=config.max_retries, base_s=backoff_s)
        self._sleep = sleep

    def complete(self, system: str, user: str) -> Completion:
        with self._limiter:
            completion, attempts = with_retries(
                lambda: self._attempt(system, user), self._classify, self._policy, self._secret, self.name, self._sleep
            )
        return Completion(**{**completion, "attempts": attempts})

    def _attempt(self, system: str, user: str) -> dict[str, Any]:
        c = self.config
        args: dict[str, Any] = {
            "model": c.model,
            "max_tokens": c.max_tokens,
            "system": system,
            "messages": [{"role": "user", "content": user}],
        }
        if c.temperature is not None:
            # This SDK's typed signature has no `temperature`; the API still takes it in the body.
            args["extra_body"] = {"temperature": c.temperature}
        start = time.monotonic()
        if c.stream:
            # Streaming is what the SDK requires for long generations (large max_tokens).
            with self._client.messages.stream(**args) as stream:
                message = stream.get_final_message()
        else:
            message = self._client.messages.create(**args)
        latency = time.monotonic() - start
        text = "".join(block.text for block in message.content if getattr(block, "type", "") == "text")
        return {
            "text": text,
            "tokens_in": message.usage.input_tokens or 0,
            "tokens_out": message.usage.output_tokens or 0,
            "latency_s": latency,
            "truncated": message.stop_reason == "max_tokens",
        }

    def _classify(self, e: Exception) -> tuple[str, bool, float | None]:
        anthropic = self._anthropic
        if isinstance(e, anthropic.APITimeoutError):
            return "timeout", True, None
        if isinstance(e, anthropic.APIConnectionError):
            return "connection", True, None
        if isinstance(e, anthropic.APIStatusError):
            status = e.status_code
            if status is not None and status < 400:
                # An `error` event inside a 200 stream (e.g. overloaded): the server's problem.
                return "server", True, None
            kind, retryable = classify_status(status)
            return kind, retryable, retry_after_s(e.response.headers)
        if type(e).__module__.split(".")[0].startswith("httpx"):
            return "connection", True, None  # a stream cut off mid-reply
        return "other", False, None
