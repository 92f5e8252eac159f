"""What is read from a model server and stored is bounded by max_tokens, and a cut is recorded."""

from __future__ import annotations

import pytest

from kernelswarm.agents.base import Context
from kernelswarm.agents.llm import LLMAgent
from kernelswarm.config import ModelConfig
from kernelswarm.llm import LLMError, make_client
from kernelswarm.llm.fake import FakeClient, FakeServer, Reply
from kernelswarm.llm.limits import text_limit, wire_limit
from kernelswarm.problems.suite import bundled_dir
from kernelswarm.problems.load import load_problem

pytestmark = pytest.mark.llm

MAX_TOKENS = 100
CODE = "```python\nimport torch\n\nclass ModelNew(torch.nn.Module):\n    pass\n```\n"
HUGE = CODE + "x" * (20 * 1024 * 1024)  # 20 MB, as a server that ignored max_tokens once sent


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("KS_LIMIT_KEY", "sk-limit-test")


def _client(server: FakeServer, provider: str, stream: bool):
    base = server.openai_base_url if provider == "openai" else server.anthropic_base_url
    return make_client(ModelConfig(name="m", provider=provider, model="fake", base_url=base, api_key_env="KS_LIMIT_KEY",
                                   stream=stream, max_tokens=MAX_TOKENS, max_retries=2), backoff_s=0.01)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_streamed_reply_is_read_only_up_to_its_bound(provider):
    with FakeServer([Reply(HUGE, tokens_out=5_000_000)]) as s:
        c = _client(s, provider, True).complete("s", "u")
    assert c.cut and c.truncated and len(c.text) == text_limit(MAX_TOKENS) and c.text.startswith(CODE)
    assert len(s.requests) == 1


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_plain_reply_past_its_wire_bound_fails_once_without_being_read(provider):
    with FakeServer([Reply(HUGE)], default=Reply(CODE)) as s:
        with pytest.raises(LLMError) as e:
            _client(s, provider, False).complete("s", "u")
    assert e.value.kind == "too_large" and e.value.attempts == 1  # asking again would read as much again
    assert str(wire_limit(MAX_TOKENS)) in str(e.value)
    assert len(s.requests) == 1


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_plain_reply_within_the_wire_bound_is_cut_to_the_text_bound(provider):
    with FakeServer([Reply(CODE + "y" * 100_000)]) as s:
        c = _client(s, provider, False).complete("s", "u")
    assert c.cut and len(c.text) == text_limit(MAX_TOKENS)


def test_what_the_agent_stores_is_bounded_and_says_it_was_cut():
    config = ModelConfig(name="m", provider="openai", model="fake", max_tokens=MAX_TOKENS)
    agent = LLMAgent(config, FakeClient("m", [HUGE]))
    problem = load_problem(bundled_dir() / "level1" / "relu.py", level=1)
    [cand] = agent.propose(problem, Context(device="cpu", round=0))
    [call] = cand.calls
    assert len(call.reply) < text_limit(MAX_TOKENS) + 200 and call.reply.startswith(CODE)
    assert "reply cut at 1600 characters" in call.reply and "reply cut" in cand.note
    assert "class ModelNew" in cand.source  # the code came before the cut: it is still judged
