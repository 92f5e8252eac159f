"""Fakes for tests and offline demos: a scripted client, and a local HTTP server that speaks the
OpenAI chat-completions and Anthropic messages wire formats, plain and streamed (SSE), so the
real SDK clients can be exercised without a network. Standard library only.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from kernelswarm.llm.base import Completion, LLMError, estimate_tokens


@dataclass
class Reply:
    """What a fake answers to one request: a text, or an HTTP error."""

    text: str = ""
    status: int = 200  # anything else is an error reply in the provider's format
    error: str = "error"  # error message; "{api_key}" is replaced by the key the request carried
    headers: dict[str, str] = field(default_factory=dict)  # e.g. {"retry-after": "0"}
    truncated: bool = False  # finish as if max_tokens was hit
    tokens_in: int | None = None  # None: estimated from the request
    tokens_out: int | None = None  # None: estimated from the text
    usage: bool = True  # False: send no usage at all (some compatible servers do not)
    delay_s: float = 0.0  # wait this long before answering (to exercise client timeouts)
    drop_after: int | None = None  # streamed: cut the connection after this many events


class FakeClient:
    """A ModelClient that answers from a script and records every prompt it was sent."""

    def __init__(self, name: str, replies: list[Reply | str] | Callable[[str, str], Reply | str]) -> None:
        self.name = name
        self._replies = replies
        self.prompts: list[tuple[str, str]] = []  # (system, user) per call
        self._lock = threading.Lock()

    def complete(self, system: str, user: str) -> Completion:
        with self._lock:
            self.prompts.append((system, user))
            if callable(self._replies):
                reply = self._replies(system, user)
            elif self._replies:
                reply = self._replies.pop(0)
            else:
                raise LLMError(f"{self.name}: fake client has no replies left", "other")
        reply = Reply(reply) if isinstance(reply, str) else reply
        if reply.status != 200:
            raise LLMError(f"{self.name}: HTTP {reply.status}: {reply.error}", "server")
        return Completion(
            text=reply.text,
            tokens_in=reply.tokens_in if reply.tokens_in is not None else estimate_tokens(system + user),
            tokens_out=reply.tokens_out if reply.tokens_out is not None else estimate_tokens(reply.text),
            latency_s=0.0,
            truncated=reply.truncated,
        )


@dataclass
class Request:
    """One request a FakeServer received."""

    path: str
    headers: dict[str, str]  # lower-cased names
    body: dict[str, Any]


class FakeServer:
    """A local model server on 127.0.0.1. `with FakeServer([...]) as s:` then point an SDK at
    `s.openai_base_url` or `s.anthropic_base_url`. Replies are used in order; when the script
    runs out, `default` answers (or a responder function, given the Request)."""

    def __init__(self, script: list[Reply | str] | None = None, default: Reply | str | Callable[[Request], Reply | str] | None = None) -> None:
        self.script: list[Reply | str] = list(script or [])
        self.default = default
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        # A short poll interval: shutdown() waits for one, and tests start many servers.
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def openai_base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> "FakeServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _next(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self.script:
                reply = self.script.pop(0)
            elif callable(self.default):
                reply = self.default(request)
            elif self.default is not None:
                reply = self.default
            else:
                reply = Reply(status=500, error="fake server: script exhausted")
        return Reply(reply) if isinstance(reply, str) else reply


def _make_handler(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def do_POST(self) -> None:
            try:
                self._answer()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (timeout): nothing to answer

        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b"{}"
            body = json.loads(raw or b"{}")
            headers = {k.lower(): v for k, v in self.headers.items()}
            reply = server._next(Request(self.path, headers, body))
            if reply.delay_s:
                time.sleep(reply.delay_s)
            key = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")
            anthropic = self.path.rstrip("/").endswith("/messages")
            if reply.status != 200:
                message = reply.error.replace("{api_key}", key)
                if anthropic:
                    kind = "rate_limit_error" if reply.status == 429 else "api_error"
                    payload = {"type": "error", "error": {"type": kind, "message": message}}
                else:
                    payload = {"error": {"message": message, "type": "error", "code": str(reply.status)}}
                self._send_json(reply.status, payload, reply.headers)
                return
            prompt = json.dumps(body.get("messages", "")) + str(body.get("system", ""))
            tin = reply.tokens_in if reply.tokens_in is not None else estimate_tokens(prompt)
            tout = reply.tokens_out if reply.tokens_out is not None else estimate_tokens(reply.text)
            model = body.get("model", "fake")
            stream = bool(body.get("stream"))
            if anthropic:
                events = _anthropic_events(reply, model, tin, tout) if stream else None
                payload = _anthropic_message(reply, model, tin, tout)
            else:
                events = _openai_events(reply, model, tin, tout) if stream else None
                payload = _openai_completion(reply, model, tin, tout)
            if events is None:
                self._send_json(200, payload, reply.headers)
            else:
                self._send_sse(events if reply.drop_after is None else events[: reply.drop_after], complete=reply.drop_after is None)

        def _send_json(self, status: int, payload: dict[str, Any], extra: dict[str, str]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _send_sse(self, events: list[tuple[str | None, str]], complete: bool = True) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for name, data in events:
                text = (f"event: {name}\n" if name else "") + f"data: {data}\n\n"
                chunk = text.encode()
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.flush()
            if complete:
                self.wfile.write(b"0\r\n\r\n")
            else:  # no terminating chunk: the client sees a connection cut mid-reply
                self.close_connection = True

    return Handler


def _pieces(text: str, n: int = 3, most: int = 4096) -> list[str]:
    step = min(most, max(1, -(-len(text) // n)))  # a long text streams in many events, as servers send it
    return [text[i : i + step] for i in range(0, len(text), step)] or [""]


def _openai_completion(reply: Reply, model: str, tin: int, tout: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.text},
                "finish_reason": "length" if reply.truncated else "stop",
            }
        ],
    }
    if reply.usage:
        out["usage"] = {"prompt_tokens": tin, "completion_tokens": tout, "total_tokens": tin + tout}
    return out


def _openai_events(reply: Reply, model: str, tin: int, tout: int) -> list[tuple[str | None, str]]:
    def chunk(delta: dict[str, Any], finish: str | None) -> str:
        return json.dumps(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
        )

    events: list[tuple[str | None, str]] = [(None, chunk({"role": "assistant", "content": ""}, None))]
    events += [(None, chunk({"content": p}, None)) for p in _pieces(reply.text)]
    events.append((None, chunk({}, "length" if reply.truncated else "stop")))
    if reply.usage:
        usage = {"prompt_tokens": tin, "completion_tokens": tout, "total_tokens": tin + tout}
        events.append((None, json.dumps({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model, "choices": [], "usage": usage})))
    events.append((None, "[DONE]"))
    return events


def _anthropic_message(reply: Reply, model: str, tin: int, tout: int) -> dict[str, Any]:
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": reply.text}],
        "stop_reason": "max_tokens" if reply.truncated else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": tin, "output_tokens": tout},
    }


def _anthropic_events(reply: Reply, model: str, tin: int, tout: int) -> list[tuple[str | None, str]]:
    start = _anthropic_message(Reply(""), model, tin, 1)
    start["content"], start["stop_reason"] = [], None
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ]
    for p in _pieces(reply.text):
        events.append(("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}))
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "max_tokens" if reply.truncated else "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": tout},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return [(name, json.dumps(data)) for name, data in events]
