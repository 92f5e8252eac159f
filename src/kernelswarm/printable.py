"""Text a candidate wrote, made safe to show: every character a terminal or a viewer acts on
instead of showing is written out as an escape.

A candidate's exception message, its output and its profiler range names reach verdict reasons,
check details and log tails, and from there the terminal (`kernelswarm eval`, `run`), the store,
the HTML report and the next round's prompt. Raw, an ESC there cleared the user's screen, wrote
the clipboard (OSC 52) or drew a fake verdict over the real one; a carriage return or a bidi
override hid or reversed the text before it (cheat/terminal_escape). Kept: newlines, tabs and
every printable character; written out (`\\x1b`, `\\u202e`): C0 and C1 controls, DEL, format
characters (bidi, zero-width), line and paragraph separators, surrogates, unassigned code points.

Standard library only: the evaluator imports it.
"""

from __future__ import annotations

import dataclasses
from typing import TypeVar

T = TypeVar("T")


def _escaped(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: str) -> str:
    """`text` with every character that is neither printable nor a newline or tab escaped."""
    if not text or text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch in "\n\t" else _escaped(ch) for ch in text)


def capped(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, saying how much was left out (a candidate's names and
    messages are its own length: 600 KB of profiler range names filled one check's detail)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


def printable_fields(record: T, names: tuple[str, ...], limit: int | None = None) -> T:
    """A dataclass record with its text fields `names` made printable (a copy where it is frozen),
    each cut to `limit` characters if given."""
    changes = {n: printable(getattr(record, n)) for n in names if isinstance(getattr(record, n), str)}
    if limit is not None:
        changes = {n: capped(v, limit) for n, v in changes.items()}
    return with_changes(record, {n: v for n, v in changes.items() if v != getattr(record, n)})


def with_changes(record: T, changes: dict) -> T:
    """`record` with the fields in `changes` set: a copy where the dataclass is frozen, the record
    itself otherwise (unchanged, and the same object, when there is nothing to change)."""
    if not changes:
        return record
    if type(record).__dataclass_params__.frozen:  # type: ignore[attr-defined]
        return dataclasses.replace(record, **changes)  # type: ignore[type-var]
    for n, v in changes.items():
        setattr(record, n, v)
    return record
