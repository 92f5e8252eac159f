"""Every reply from a worker is checked against its request's schema before anything reads it.

A candidate's code runs inside its worker, with the worker's channel open: it can write a frame
of its own (`{"ok": true}`) in the middle of a call, answer with fields of the wrong type, or
leave some out. None of that may crash the evaluator or be believed: `check_reply` is called
once, where a reply arrives (procs.WorkerProcess.finish_call), and raises `MalformedReply`, which
the evaluation turns into a `rejected` verdict with the reason, stored like any other.

Each request carries a fresh id that the worker echoes (`re`): a frame written by the candidate
without it, or the worker's real reply arriving after a forged one (and so answering the wrong
request), is malformed. Ops not listed here (a newer worker's) get the common checks only.

Standard library only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]
MAX_LIST = 1 << 20  # no list in a reply is longer (a burst's fingerprints are 2000 short lists)


class MalformedReply(ValueError):
    """A reply that does not match what was asked."""


def _num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _finite(x: Any) -> bool:
    return _num(x) and math.isfinite(x)


def _count(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 1 << 31


def _text(x: Any) -> bool:
    return isinstance(x, str)


def _flag(x: Any) -> bool:
    return isinstance(x, bool)


def _share(x: Any) -> bool:
    return _finite(x) and 0.0 <= x <= 1.0


def _list_of(item: Check) -> Check:
    return lambda x: isinstance(x, list) and len(x) <= MAX_LIST and all(item(v) for v in x)


def _fingerprint(x: Any) -> bool:
    """A fingerprint: numbers (NaN included: an output may hold NaN), possibly nested one level."""
    return isinstance(x, list) and len(x) <= MAX_LIST and all(_num(v) or _list_of(_num)(v) for v in x)


def _dict(x: Any) -> bool:
    return isinstance(x, dict)


# op -> (required fields, optional fields). A reply that names `bad_output` may leave out the
# rest: the parent rejects it for that reason alone.
_SCHEMAS: dict[str, tuple[dict[str, Check], dict[str, Check]]] = {
    "init": ({}, {}),
    "sandbox": ({"sandbox": _text}, {}),
    "import": ({}, {}),
    "run": ({"fingerprint_at_return": _fingerprint, "python_threads": _count}, {"inputs_mutated": _flag}),
    "label": ({"custom_share": _share, "ran": _list_of(_text), "defined": _list_of(_text)}, {"timed_ext_share": _share,
                                                                                        "timed_ext_time_share": _share}),
    "time_setup": ({}, {"warmup_calls": _count, "warmup_ms": _finite, "settled_ms": _finite}),
    "settle": ({"settled_ms": _finite}, {}),
    "time_call": ({"ms": _finite, "fingerprint_at_return": _fingerprint, "python_threads": _count}, {}),
    "time_burst": ({"fingerprints": _list_of(_fingerprint), "python_threads": _count},
                   {"projections": _list_of(_list_of(_list_of(_num)))}),
    "prepare": ({}, {"projections": _list_of(_list_of(_num))}),  # per output, the last call's
    "project": ({"projections": _list_of(_list_of(_num))}, {}),
    "flush": ({"flush_ms": _finite}, {}),
    "keep": ({}, {}),
    "kept_outputs": ({}, {}),
    "integrity": ({"patched": _list_of(_text), "python_threads": _count}, {}),
    "memory": ({"min_free_share": _finite}, {}),
    "drop_pool": ({}, {}),
}
_COMMON: dict[str, Check] = {"op_s": _finite}
_FAILURE: dict[str, Check] = {"kind": _text, "error": _text, "traceback": _text}


def check_reply(op: Any, request_id: Any, reply: dict[str, Any], has_blob: bool = False) -> dict[str, Any]:
    """`reply` itself when it is a well-formed answer to request `request_id` (op `op`);
    raises MalformedReply saying what is wrong otherwise."""
    if reply.get("re") != request_id:
        raise MalformedReply(f"a frame that does not answer the '{op}' request (forged, or out of order)")
    ok = reply.get("ok")
    if not isinstance(ok, bool):
        raise MalformedReply(f"the reply to '{op}' has no ok flag")
    _fields(op, reply, {}, _COMMON)
    if not ok:
        _fields(op, reply, {"error": _text}, _FAILURE)
        return reply
    for bad in ("bad_output", "bad_train"):  # a refusal by the worker's own checks: the rest may be absent
        if bad in reply:
            _fields(op, reply, {bad: _text}, {})
            return reply
    if op in _SCHEMAS:
        required, optional = _SCHEMAS[op]
        _fields(op, reply, required, optional)
    if has_blob and op not in ("run", "kept_outputs", "check", "spec"):
        raise MalformedReply(f"the reply to '{op}' carries data it was not asked for")
    return reply


def _fields(op: Any, reply: dict[str, Any], required: dict[str, Check], optional: dict[str, Check]) -> None:
    for name, ok in required.items():
        if name not in reply:
            raise MalformedReply(f"the reply to '{op}' lacks '{name}'")
        if not ok(reply[name]):
            raise MalformedReply(f"the reply to '{op}' has an unusable '{name}' ({_show(reply[name])})")
    for name, ok in optional.items():
        if name in reply and not ok(reply[name]):
            raise MalformedReply(f"the reply to '{op}' has an unusable '{name}' ({_show(reply[name])})")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
