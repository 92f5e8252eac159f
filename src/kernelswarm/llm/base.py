"""The model-client seam: `complete(system, user) -> Completion`, errors, retries, concurrency.

The concrete clients (openai_client, anthropic_client) differ only in the request they send;
retry policy, the per-model concurrency limit and key redaction live here so both behave alike.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol, TypeVar

from kernelswarm.llm.limits import capped_http_client, too_large, wire_limit

log = logging.getLogger("kernelswarm.llm")

T = TypeVar("T")


@dataclass(frozen=True)
class Completion:
    """One model reply with what it cost."""

    text: str  # the reply's text ("" when the model returned none)
    tokens_in: int  # prompt tokens, as the server counted them
    tokens_out: int  # completion tokens, as the server counted them
    latency_s: float  # wall time of the successful attempt, first byte to last
    truncated: bool = False  # the reply stopped at max_tokens
    attempts: int = 1  # 1 + retries it took
    usage_estimated: bool = False  # the server sent no usage; tokens estimated from characters
    cut: bool = False  # longer than max_tokens allows: only the first limits.text_limit characters were kept


class LLMError(Exception):
    """A request that failed for good (after retries). The message is one line and never holds a key."""

    def __init__(self, message: str, kind: str, attempts: int = 1) -> None:
        super().__init__(message)
        self.kind = kind  # auth, rate_limit, server, timeout, connection, bad_request, config, other
        self.attempts = attempts

    def __str__(self) -> str:
        return self.args[0]


class ModelClient(Protocol):
    name: str  # the model's `name` from the models file

    def complete(self, system: str, user: str) -> Completion:
        """Send one chat turn; return the reply or raise LLMError."""
        ...


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter; a server's Retry-After wins when it asks for longer."""

    max_retries: int = 4
    base_s: float = 1.0  # first wait; doubles each retry
    cap_s: float = 60.0  # no single wait longer than this


def redact(text: str, secret: str | None) -> str:
    """Remove a key (and the common masked prefix servers echo back) from text."""
    if secret and len(secret) >= 4:
        text = text.replace(secret, "[redacted]")
        if len(secret) > 12:
            text = text.replace(secret[:8], "[redacted]")
    return text


def one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def estimate_tokens(text: str) -> int:
    """About four characters a token: used only when a server reports no usage, so budgets still count."""
    return (len(text) + 3) // 4


class Limiter:
    """Bounds the requests in flight for one model, whichever thread sends them."""

    def __init__(self, max_concurrency: int) -> None:
        self._sem = threading.BoundedSemaphore(max_concurrency)

    def __enter__(self) -> "Limiter":
        self._sem.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self._sem.release()


def with_retries(
    attempt: Callable[[], T],
    classify: Callable[[Exception], tuple[str, bool, float | None]],
    policy: RetryPolicy,
    secret: str | None,
    label: str,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[T, int]:
    """Run `attempt` until it succeeds or fails for good; return (result, attempts).

    `classify(exc)` says (kind, retryable, retry_after_s). Every error leaving here is an LLMError
    whose message went through `redact`, so a server echoing the key back cannot leak it.
    """
    n = 0
    while True:
        n += 1
        try:
            return attempt(), n
        except Exception as e:  # noqa: BLE001 - every SDK failure becomes an LLMError
            kind, retryable, after = classify(e)
            cause = too_large(e) or e  # the SDK says "connection error" for a reply cut off at its bound
            message = redact(one_line(f"{label}: {type(cause).__name__}: {cause}"), secret)
            if not retryable or n > policy.max_retries:
                raise LLMError(message, kind, n) from None
            wait = min(policy.cap_s, policy.base_s * 2 ** (n - 1)) * (0.5 + random.random() / 2)
            if after is not None:
                wait = max(wait, min(after, policy.cap_s))
            log.warning("%s (attempt %d); retrying in %.1fs", message, n, wait)
            sleep(wait)


def classify_status(status: int | None) -> tuple[str, bool]:
    """Kind and retryability of an HTTP status, the same for every provider."""
    if status is None:
        return "other", False
    if status in (401, 403):
        return "auth", False
    if status == 429:
        return "rate_limit", True
    if status in (408, 409) or status >= 500:  # 409: lock contention; 529: Anthropic overloaded
        return "server", True
    return "bad_request", False


def retry_after_s(headers: object) -> float | None:
    """Seconds from a Retry-After (or retry-after-ms) header, when the server sent one."""
    get = getattr(headers, "get", None)
    if get is None:
        return None
    for name, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        value = get(name)
        if value is not None:
            try:
                return max(0.0, float(value) * scale)
            except ValueError:
                return None  # an HTTP date; the exponential wait is good enough
    return None


class SdkClient:
    """What both SDK clients share: one concurrency limiter per model, our own retries (the SDK's
    are off, so ours log, honour Retry-After and count attempts), and the key kept out of errors."""

    def __init__(self, config: Any, api_key: str | None, sdk: Any, sdk_client: Any, backoff_s: float,
                 sleep: Callable[[float], None]) -> None:
        self.name = config.name
        self.config = config
        self._sdk = sdk
        self._secret = api_key
        # Keyless local servers (vLLM, Ollama) still need some key for the SDK to build a request.
        # Responses are read up to a bound from max_tokens, not whatever size the server sends.
        http = capped_http_client(sdk, wire_limit(config.max_tokens), timeout=config.timeout_s)
        self._client = sdk_client(api_key=api_key or "no-key", base_url=config.base_url,
                                  timeout=config.timeout_s, max_retries=0, http_client=http)
        self._limiter = Limiter(config.max_concurrency)
        self._policy = RetryPolicy(max_retries=config.max_retries, base_s=backoff_s)
        self._sleep = sleep

    def _complete(self, attempt: Callable[[], dict[str, Any]]) -> Completion:
        with self._limiter:
            completion, attempts = with_retries(attempt, self._classify, self._policy, self._secret, self.name, self._sleep)
        return Completion(**{**completion, "attempts": attempts})

    def _classify(self, e: Exception) -> tuple[str, bool, float | None]:
        sdk = self._sdk
        if too_large(e) is not None:  # asking again would read as much again
            return "too_large", False, None
        if isinstance(e, sdk.APITimeoutError):
            return "timeout", True, None
        if isinstance(e, sdk.APIConnectionError):
            return "connection", True, None
        if isinstance(e, sdk.APIStatusError):
            return self._status_error(e)
        if type(e).__module__.split(".")[0].startswith("httpx"):
            return "connection", True, None  # a stream cut off mid-reply
        return "other", False, None

    def _status_error(self, e: Any) -> tuple[str, bool, float | None]:
        kind, retryable = classify_status(e.status_code)
        return kind, retryable, retry_after_s(e.response.headers)
