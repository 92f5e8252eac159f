"""Reading a model's reply: exactly one fenced Python block that defines `class ModelNew`.

Models wrap code in prose, send several blocks, get cut off at max_tokens, or forget the class.
Each of those becomes a one-line reason instead of an exception, so a bad reply costs a
candidate, never the run.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from kernelswarm import pyast

# An opening fence at the start of a line, with an optional info string (```python, ~~~py).
_FENCE = re.compile(r"^[ \t]*(```+|~~~+)[ \t]*([\w+.-]*)[^\n]*$", re.MULTILINE)
_PYTHON = {"python", "py", "python3", ""}


@dataclass(frozen=True)
class ParsedReply:
    """The code and prose of a reply, or why it holds no usable candidate."""

    source: str  # the ModelNew source; "" when unusable
    reason: str  # "" when usable, else one line saying what is wrong with the reply
    prose: str  # the text outside code blocks (the model's own description)


@dataclass(frozen=True)
class _Block:
    lang: str
    code: str
    closed: bool


def _blocks(text: str) -> tuple[list[_Block], str]:
    """Fenced blocks in order, and the prose outside them."""
    blocks: list[_Block] = []
    prose: list[str] = []
    pos = 0
    while True:
        m = _FENCE.search(text, pos)
        if m is None:
            prose.append(text[pos:])
            break
        prose.append(text[pos : m.start()])
        fence, lang = m.group(1), m.group(2).lower()
        body_start = m.end() + 1
        # The closing fence: same character, at least as long, alone on its line.
        close = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", re.MULTILINE).search(text, body_start)
        if close is None:
            blocks.append(_Block(lang, text[body_start:], closed=False))
            break
        blocks.append(_Block(lang, text[body_start : close.start()], closed=True))
        pos = close.end()
    return blocks, "".join(prose).strip()


def _defines_model_new(tree: ast.Module) -> bool:
    return any(isinstance(n, ast.ClassDef) and n.name == "ModelNew" for n in tree.body)


def parse_reply(text: str, truncated: bool = False) -> ParsedReply:
    """Extract the candidate from a reply. `truncated`: the server said it hit max_tokens."""
    blocks, prose = _blocks(text)
    cut = " (the reply hit max_tokens)" if truncated else ""
    if not text.strip():
        return ParsedReply("", f"empty reply{cut}", prose)
    if not blocks:
        return ParsedReply("", f"no fenced code block in the reply{cut}", prose)
    python = [b for b in blocks if b.lang in _PYTHON]
    if not python:
        langs = ", ".join(sorted({b.lang or "untagged" for b in blocks}))
        return ParsedReply("", f"no Python code block in the reply (found: {langs})", prose)
    defining = [b for b in python if re.search(r"^class\s+ModelNew\b", b.code, re.MULTILINE)]
    if len(defining) > 1:
        return ParsedReply("", f"{len(defining)} code blocks define ModelNew; expected exactly one", prose)
    if not defining:
        last = python[-1]
        if not last.closed:
            return ParsedReply("", f"truncated code: the reply ended inside a code block{cut}", prose)
        return ParsedReply("", "no `class ModelNew` in the reply's Python code", prose)
    block = defining[0]
    if not block.closed:
        return ParsedReply("", f"truncated code: the reply ended inside the code block{cut}", prose)
    try:
        tree = pyast.parse(block.code)
    except SyntaxError as e:
        return ParsedReply("", f"the code block does not parse: line {e.lineno}: {e.msg}{cut}", prose)
    if not _defines_model_new(tree):
        return ParsedReply("", "`class ModelNew` is not defined at module level", prose)
    return ParsedReply(block.code.rstrip() + "\n", "", prose)
