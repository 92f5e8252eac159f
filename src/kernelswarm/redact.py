"""The secret rule, in one place: which values are secrets, and scrubbing them out of text.

A secret is the value of an environment variable that names a credential: every `api_key_env`
of the models file (registered with `register_names`), and every name containing KEY, TOKEN,
SECRET, PASSWORD or CREDENTIAL, when the value is at least `MIN_LENGTH` characters long (shorter
values such as `1` would scrub ordinary text and guard nothing).

Keeping keys out of a candidate's reach is the first defence (procs.py gives workers an
allow-listed environment; contain.py hides the evaluator's). This module is the second: whatever a
candidate or a model reply can influence (verdict reasons, check details, log tails, notes, stored
prompts and replies, the next round's prompt, the report, the terminal) passes `scrub` before it
is stored, shown or sent. Scrubbing also catches the plain encodings a smuggler reaches for first
(reversed, hex, base64); isolation, not scrubbing, is what holds against any other encoding.

Standard library only: the evaluator imports it.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import os
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from kernelswarm.printable import with_changes

SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.IGNORECASE)
MIN_LENGTH = 8
MARK = "[redacted]"

_lock = threading.Lock()
_names: set[str] = set()  # api_key_env names of configured models
_values: set[str] = set()  # secrets seen once, kept even if the variable is later removed

T = TypeVar("T")


def register_names(names: Iterable[str]) -> None:
    """Variables that hold secrets whatever they are called (a model's `api_key_env`)."""
    with _lock:
        _names.update(n for n in names if n)


def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name)) or name in _names


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Every secret value known now, longest first (so a key containing another is scrubbed whole)."""
    env = os.environ if environ is None else environ
    found = {v for k, v in env.items() if is_secret_name(k) and len(v) >= MIN_LENGTH}
    with _lock:
        _values.update(found)
        every = set(_values)
    return sorted(every, key=len, reverse=True)


def _forms(value: str) -> list[str]:
    """The value and its plain encodings."""
    raw = value.encode(errors="replace")
    forms = [value, value[::-1], raw.hex(), raw.hex().upper(), base64.b64encode(raw).decode().rstrip("="),
             base64.urlsafe_b64encode(raw).decode().rstrip("=")]
    return [f for f in forms if len(f) >= MIN_LENGTH]


def scrub(text: str, values: list[str] | None = None) -> str:
    """`text` with every secret (and its plain encodings) replaced by [redacted]."""
    if not text:
        return text
    for value in secret_values() if values is None else values:
        for form in _forms(value):
            if form in text:
                text = text.replace(form, MARK)
    return text


def contains_secret(text: str) -> bool:
    return scrub(text) != text


def scrub_data(data: T, values: list[str] | None = None) -> T:
    """Dicts (keys too), lists, tuples and strings, scrubbed throughout; other values as they are."""
    values = secret_values() if values is None else values
    if not values:
        return data
    if isinstance(data, str):
        return scrub(data, values)  # type: ignore[return-value]
    if isinstance(data, dict):
        return {scrub_data(k, values): scrub_data(v, values) for k, v in data.items()}  # type: ignore[return-value]
    if isinstance(data, (list, tuple)):
        return type(data)(scrub_data(v, values) for v in data)  # type: ignore[return-value]
    return data


def scrub_record(record: T) -> T:
    """A dataclass record (Evaluation, Candidate, ModelCall, ...) with every text field scrubbed,
    nested records and containers included. A mutable record is changed in place and returned; a
    frozen one (Check) is returned as a scrubbed copy."""
    values = secret_values()
    if not values or not dataclasses.is_dataclass(record) or isinstance(record, type):
        return record
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if isinstance(value, enum.Enum):
            continue
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            new: Any = scrub_record(value)
        elif isinstance(value, list) and any(dataclasses.is_dataclass(v) for v in value):
            new = [scrub_record(v) if dataclasses.is_dataclass(v) else scrub_data(v, values) for v in value]
        elif isinstance(value, (str, dict, list, tuple)):
            new = scrub_data(value, values)
        else:
            continue
        if new is not value and new != value:
            changes[f.name] = new
    return with_changes(record, changes)


def scrub_any(value: Any) -> Any:
    """Text, containers or records: whatever it is, scrubbed."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return scrub_record(value)
    return scrub_data(value)
