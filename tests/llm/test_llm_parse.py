"""Reading replies: one fenced Python block defining ModelNew, or a clear reason."""

from __future__ import annotations

import pytest

from kernelswarm.llm.reply import parse_reply

pytestmark = pytest.mark.llm

GOOD = "import torch\n\nclass ModelNew(torch.nn.Module):\n    def forward(self, x):\n        return x\n"


def test_one_block_with_prose_around_it():
    r = parse_reply(f"I fused the ops.\n\n```python\n{GOOD}```\n\nThat is all.")
    assert r.reason == "" and r.source == GOOD
    assert r.prose.startswith("I fused the ops.") and "That is all." in r.prose


def test_untagged_block_and_other_language_blocks():
    # A C++ snippet shown for explanation does not hide the one Python block that defines ModelNew.
    r = parse_reply(f"```cpp\nint main() {{}}\n```\n```\n{GOOD}```")
    assert r.reason == "" and r.source == GOOD


@pytest.mark.parametrize(
    "reply, reason",
    [
        ("", "empty reply"),
        ("I would write a fused kernel that tiles the matrix.", "no fenced code block"),
        ("```cpp\nint x;\n```", "no Python code block"),
        (f"```python\n{GOOD}```\n```python\n{GOOD}```", "2 code blocks define ModelNew"),
        ("```python\nimport torch\nx = 1\n```", "no `class ModelNew`"),
        (f"```python\n{GOOD}    def more(self):\n        return (", "truncated code"),
        ("```python\nclass ModelNew(torch.nn.Module:\n    pass\n```", "does not parse: line 1"),
        ("```python\nif True:\n    class ModelNew: pass\nclass ModelNewer: pass\n```", "no `class ModelNew`"),
    ],
)
def test_unusable_replies_give_reasons(reply, reason):
    r = parse_reply(reply)
    assert r.source == ""
    assert reason in r.reason


def test_truncation_is_named_when_the_server_says_so():
    r = parse_reply("```python\nimport torch\nclass ModelNew(", truncated=True)
    assert "truncated" in r.reason and "max_tokens" in r.reason


def test_tilde_fences():
    assert parse_reply(f"~~~python\n{GOOD}~~~").source == GOOD
