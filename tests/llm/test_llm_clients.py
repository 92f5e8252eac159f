"""The real openai and anthropic SDK clients against local servers speaking their wire formats."""

from __future__ import annotations

import threading
import time

import pytest

from kernelswarm.config import ModelConfig
from kernelswarm.llm import LLMError, cost_usd, make_client
from kernelswarm.llm.base import Limiter
from kernelswarm.llm.fake import FakeServer, Reply

pytestmark = pytest.mark.llm

KEY = "sk-test-SECRET-0123456789abcdef"
PROVIDERS = ["openai", "anthropic"]


def _config(server: FakeServer, provider: str, stream: bool = True, **kw) -> ModelConfig:
    base = server.openai_base_url if provider == "openai" else server.anthropic_base_url
    return ModelConfig(name=f"m-{provider}", provider=provider, model="fake-model", base_url=base, api_key_env="KS_TEST_KEY", stream=stream, **kw)


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("KS_TEST_KEY", KEY)


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "plain"])
def test_round_trip(provider, stream):
    text = "Here you go.\n```python\nclass ModelNew: pass\n```\n"
    with FakeServer([Reply(text, tokens_in=1234, tokens_out=56)]) as s:
        client = make_client(_config(s, provider, stream, temperature=0.3, max_tokens=777))
        c = client.complete("SYSTEM RULES", "USER PROBLEM")
    assert c.text == text
    assert (c.tokens_in, c.tokens_out, c.attempts, c.truncated) == (1234, 56, 1, False)
    assert c.latency_s > 0
    (req,) = s.requests
    assert bool(req.body.get("stream")) is stream
    assert req.body["model"] == "fake-model" and req.body["temperature"] == 0.3
    if provider == "openai":
        assert req.path == "/v1/chat/completions"
        assert req.body["messages"][0] == {"role": "system", "content": "SYSTEM RULES"}
        assert req.body["max_tokens"] == 777  # compatible servers get max_tokens
        assert req.headers["authorization"] == f"Bearer {KEY}"
    else:
        assert req.path == "/v1/messages"
        assert req.body["system"] == "SYSTEM RULES" and req.body["max_tokens"] == 777
        # SDK versions differ in the header they put the key in.
        assert KEY in (req.headers.get("x-api-key"), req.headers.get("authorization", "").removeprefix("Bearer "))
    assert "USER PROBLEM" in str(req.body["messages"])


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "plain"])
def test_rate_limit_then_success(provider, stream):
    script = [Reply(status=429, error="rate limited", headers={"retry-after": "0"}), Reply(status=503, error="busy"), Reply("ok")]
    with FakeServer(script) as s:
        c = make_client(_config(s, provider, stream), backoff_s=0.01).complete("s", "u")
    assert c.text == "ok" and c.attempts == 3
    assert len(s.requests) == 3


@pytest.mark.parametrize("provider", PROVIDERS)
def test_retries_run_out(provider):
    with FakeServer(default=Reply(status=429, error="slow down")) as s:
        with pytest.raises(LLMError) as e:
            make_client(_config(s, provider, max_retries=2), backoff_s=0.01).complete("s", "u")
    assert e.value.kind == "rate_limit" and e.value.attempts == 3
    assert len(s.requests) == 3
    assert "\n" not in str(e.value) and "429" in str(e.value)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_auth_errors_are_not_retried_and_never_show_the_key(provider):
    # Real servers echo (part of) a bad key back; the error must not carry it on.
    with FakeServer(default=Reply(status=401, error="Incorrect API key provided: {api_key}")) as s:
        with pytest.raises(LLMError) as e:
            make_client(_config(s, provider), backoff_s=0.01).complete("s", "u")
    assert e.value.kind == "auth" and len(s.requests) == 1
    assert KEY not in str(e.value) and KEY[:8] not in str(e.value) and KEY not in repr(e.value)
    assert "[redacted]" in str(e.value)


def test_connection_refused_is_retried_then_reported():
    cfg = ModelConfig(name="dead", provider="openai", model="m", base_url="http://127.0.0.1:9/v1", max_retries=1, timeout_s=5)
    with pytest.raises(LLMError) as e:
        make_client(cfg, backoff_s=0.01).complete("s", "u")
    assert e.value.kind in ("connection", "timeout") and e.value.attempts == 2


def test_missing_key_variable(monkeypatch):
    monkeypatch.delenv("KS_TEST_KEY")
    cfg = ModelConfig(name="x", provider="anthropic", model="m", api_key_env="KS_TEST_KEY")
    with pytest.raises(LLMError, match="environment variable KS_TEST_KEY is not set") as e:
        make_client(cfg)
    assert e.value.kind == "config"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_truncated_reply_is_flagged(provider):
    with FakeServer([Reply("```python\nclass ModelNew(", truncated=True)]) as s:
        c = make_client(_config(s, provider)).complete("s", "u")
    assert c.truncated


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "plain"])
def test_server_without_usage_gets_estimated_tokens(stream):
    with FakeServer([Reply("x" * 400, usage=False)]) as s:
        c = make_client(_config(s, "openai", stream)).complete("s", "u" * 40)
    assert c.usage_estimated and c.tokens_out == 100 and c.tokens_in > 0


def test_official_openai_endpoint_gets_max_completion_tokens():
    cfg = ModelConfig(name="gpt", provider="openai", model="gpt-5", max_tokens=99, stream=False)
    args = make_client(cfg)._request_args([{"role": "user", "content": "u"}])  # built, not sent
    assert args["max_completion_tokens"] == 99 and "max_tokens" not in args and "stream" not in args


def test_cost_from_tokens_and_prices():
    cfg = ModelConfig(name="a", provider="openai", model="m", price_in_per_mtok=2.0, price_out_per_mtok=10.0)
    assert cost_usd(cfg, 1_000_000, 100_000) == pytest.approx(3.0)
    assert cost_usd(ModelConfig(name="b", provider="openai", model="m"), 10**6, 10**6) == 0.0


def test_concurrency_limit_holds_across_threads():
    limiter = Limiter(2)
    active, peak = [0], [0]
    lock = threading.Lock()

    def work():
        with limiter:
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            time.sleep(0.02)
            with lock:
                active[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 2


def test_client_requests_respect_max_concurrency():
    seen, peak = [0], [0]
    lock = threading.Lock()

    def slow(_request):
        with lock:
            seen[0] += 1
            peak[0] = max(peak[0], seen[0])
        time.sleep(0.05)
        with lock:
            seen[0] -= 1
        return Reply("ok")

    with FakeServer(default=slow) as s:
        client = make_client(_config(s, "openai", max_concurrency=1))
        threads = [threading.Thread(target=client.complete, args=("s", "u")) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(s.requests) == 4 and peak[0] == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stream_cut_mid_reply_is_retried(provider):
    with FakeServer([Reply("a long kernel " * 20, drop_after=3), Reply("whole")]) as s:
        c = make_client(_config(s, provider), backoff_s=0.01).complete("s", "u")
    assert c.text == "whole" and c.attempts == 2


@pytest.mark.parametrize("provider", PROVIDERS)
def test_timeouts_are_retried_then_reported(provider):
    with FakeServer(default=Reply("late", delay_s=1.0)) as s:
        with pytest.raises(LLMError) as e:
            make_client(_config(s, provider, timeout_s=0.2, max_retries=1), backoff_s=0.01).complete("s", "u")
    assert e.value.kind == "timeout" and e.value.attempts == 2
