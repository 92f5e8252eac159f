"""A client for OpenAI and every OpenAI-compatible server, over the official `openai` SDK.

Chat completions is the one API that OpenAI, DeepSeek, Gemini's compatible endpoint,
OpenRouter, vLLM, SGLang and Ollama all speak, so it is the only one used.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from kernelswarm.config import ModelConfig
from kernelswarm.llm.base import Completion, SdkClient, estimate_tokens
from kernelswarm.llm.limits import text_limit


class OpenAIClient(SdkClient):
    def __init__(
        self,
        config: ModelConfig,
        api_key: str | None,
        backoff_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import openai  # lazy: `kernelswarm --help` must not import the SDKs

        super().__init__(config, api_key, openai, openai.OpenAI, backoff_s, sleep)

    def complete(self, system: str, user: str) -> Completion:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        return self._complete(lambda: self._attempt(messages))

    def _request_args(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        c = self.config
        args: dict[str, Any] = {"model": c.model, "messages": messages}
        # OpenAI's own reasoning models accept only max_completion_tokens; compatible servers
        # (vLLM, Ollama, DeepSeek) know max_tokens, and not all of them the newer name.
        args["max_completion_tokens" if c.base_url is None else "max_tokens"] = c.max_tokens
        if c.temperature is not None:
            args["temperature"] = c.temperature
        if c.stream:
            args["stream"] = True
            args["stream_options"] = {"include_usage": True}
        return args

    def _attempt(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        start = time.monotonic()
        limit = text_limit(self.config.max_tokens)
        response = self._client.chat.completions.create(**self._request_args(messages))
        if self.config.stream:
            text, finish, usage = self._read_stream(response, limit)
        else:
            choice = response.choices[0] if response.choices else None
            text = (choice.message.content or "") if choice is not None else ""
            finish = choice.finish_reason if choice is not None else None
            usage = response.usage
        latency = time.monotonic() - start
        cut = len(text) > limit
        text = text[:limit]
        if usage is not None and not cut:
            tokens_in, tokens_out, estimated = usage.prompt_tokens or 0, usage.completion_tokens or 0, False
        else:  # no usage, or a reply cut before its usage came: counted from the text
            prompt = "".join(m["content"] for m in messages)
            tokens_in = (usage.prompt_tokens or 0) if usage is not None else estimate_tokens(prompt)
            reported = (usage.completion_tokens or 0) if usage is not None else 0
            tokens_out, estimated = max(estimate_tokens(text), reported), True
        return {
            "text": text,
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "latency_s": latency,
            "truncated": finish == "length" or cut,
            "usage_estimated": estimated,
            "cut": cut,
        }

    @staticmethod
    def _read_stream(response: Any, limit: int) -> tuple[str, str | None, Any]:
        """(text, finish reason, usage) of a streamed reply; stops reading once the text passes `limit`."""
        parts: list[str] = []
        finish, usage, size = None, None, 0
        for chunk in response:
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices or ():
                if choice.delta is not None and choice.delta.content:
                    parts.append(choice.delta.content)
                    size += len(choice.delta.content)
                if choice.finish_reason:
                    finish = choice.finish_reason
            if size > limit:  # longer than max_tokens allows: hang up
                response.close()
                break
        return "".join(parts), finish, usage
