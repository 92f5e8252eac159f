"""How much of a model's reply is read and stored: a bound derived from `max_tokens`.

A server that ignores `max_tokens` (a broken one, a hostile proxy) once sent a 20 MB reply that
was stored whole. The client stops reading a response past `wire_limit` bytes (a response is
cut off there, whatever its kind), and a reply's text is kept only up to `text_limit` characters;
a cut reply is marked as such wherever it is stored.
"""

from __future__ import annotations

import sys
from typing import Any

CHARS_PER_TOKEN = 16  # far above any tokenizer's average: a longer reply overran max_tokens
WIRE_BYTES_PER_TOKEN = 512  # a streamed token's event: JSON and SSE framing included
WIRE_SLACK_BYTES = 256 * 1024  # headers, usage, error bodies


def text_limit(max_tokens: int) -> int:
    """The most characters of reply text kept."""
    return max_tokens * CHARS_PER_TOKEN


def wire_limit(max_tokens: int) -> int:
    """The most bytes read from the server for one response."""
    return max_tokens * WIRE_BYTES_PER_TOKEN + WIRE_SLACK_BYTES


def cut_note(max_tokens: int) -> str:
    return f"[kernelswarm: reply cut at {text_limit(max_tokens)} characters, more than max_tokens={max_tokens} allows]"


class ReplyTooLarge(Exception):
    """A response grew past its wire limit; it was not read further."""


def capped_http_client(sdk: Any, limit_bytes: int, **kwargs: Any) -> Any:
    """The SDK's own HTTP client class (`sdk.DefaultHttpxClient`, an httpx-compatible Client),
    over a transport whose responses raise ReplyTooLarge once more than `limit_bytes` came."""
    client_class = sdk.DefaultHttpxClient
    httpx = sys.modules[next(c for c in client_class.__mro__ if c.__name__ == "Client").__module__.split(".")[0]]

    class CappedStream(httpx.SyncByteStream):
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def __iter__(self) -> Any:
            seen = 0
            for chunk in self._inner:
                seen += len(chunk)
                if seen > limit_bytes:
                    raise ReplyTooLarge(f"the server sent more than {limit_bytes} bytes (max_tokens allows less)")
                yield chunk

        def close(self) -> None:
            self._inner.close()

    class CappedTransport(httpx.HTTPTransport):
        def handle_request(self, request: Any) -> Any:
            response = super().handle_request(request)
            response.stream = CappedStream(response.stream)
            return response

    return client_class(transport=CappedTransport(), **kwargs)


def too_large(e: BaseException | None) -> "ReplyTooLarge | None":
    """The ReplyTooLarge behind an SDK error (which wraps it as a connection error), if any."""
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, ReplyTooLarge):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None
