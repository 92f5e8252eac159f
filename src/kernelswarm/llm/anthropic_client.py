"""A client for Claude over the official `anthropic` SDK (the messages API)."""

from __future__ import annotations

import time
from typing import Any, Callable

from kernelswarm.config import ModelConfig
from kernelswarm.llm.base import Completion, SdkClient, estimate_tokens
from kernelswarm.llm.limits import text_limit


class AnthropicClient(SdkClient):
    def __init__(
        self,
        config: ModelConfig,
        api_key: str | None,
        backoff_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import anthropic  # lazy: `kernelswarm --help` must not import the SDKs

        super().__init__(config, api_key, anthropic, anthropic.Anthropic, backoff_s, sleep)

    def complete(self, system: str, user: str) -> Completion:
        return self._complete(lambda: self._attempt(system, user))

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
        limit = text_limit(c.max_tokens)
        if c.stream:
            # Streaming is what the SDK requires for long generations (large max_tokens).
            with self._client.messages.stream(**args) as stream:
                size = 0
                for piece in stream.text_stream:
                    size += len(piece)
                    if size > limit:  # longer than max_tokens allows: hang up with what came so far
                        break
                message = stream.current_message_snapshot if size > limit else stream.get_final_message()
        else:
            message = self._client.messages.create(**args)
        latency = time.monotonic() - start
        text = "".join(block.text for block in message.content if getattr(block, "type", "") == "text")
        cut = len(text) > limit
        tokens_out = message.usage.output_tokens or 0
        return {
            "text": text[:limit],
            "tokens_in": message.usage.input_tokens or 0,
            "tokens_out": max(tokens_out, estimate_tokens(text[:limit])) if cut else tokens_out,
            "latency_s": latency,
            "truncated": message.stop_reason == "max_tokens" or cut,
            "usage_estimated": cut,
            "cut": cut,
        }

    def _status_error(self, e: Any) -> tuple[str, bool, float | None]:
        if e.status_code is not None and e.status_code < 400:
            # An `error` event inside a 200 stream (e.g. overloaded): the server's problem.
            return "server", True, None
        return super()._status_error(e)
