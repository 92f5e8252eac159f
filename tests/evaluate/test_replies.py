"""Worker replies are validated before use (replies.py): a forged or malformed one is refused."""

from __future__ import annotations

import pytest

from kernelswarm.evaluate.parent.replies import MalformedReply, check_reply


def test_well_formed_replies_pass() -> None:
    ok = {"ok": True, "re": 7, "op_s": 0.1, "ms": 1.5, "fingerprint_at_return": [1.0, 2.0, float("nan")], "python_threads": 0}
    assert check_reply("time_call", 7, ok) is ok
    assert check_reply("run", 7, {"ok": True, "re": 7, "bad_output": "not a tensor"})
    assert check_reply("import", 7, {"ok": False, "re": 7, "kind": "compile_error", "error": "x", "traceback": "t"})
    assert check_reply("some_new_op", 7, {"ok": True, "re": 7, "anything": 1})  # common checks only


@pytest.mark.parametrize("reply, why", [
    ({"ok": True}, "does not answer"),  # the raw frame of issue 14
    ({"ok": True, "re": 8, "ms": 1.0, "fingerprint_at_return": [], "python_threads": 0}, "does not answer"),
    ({"ok": True, "re": 7, "python_threads": 0, "fingerprint_at_return": []}, "lacks 'ms'"),
    ({"ok": True, "re": 7, "ms": "0.001", "fingerprint_at_return": [], "python_threads": 0}, "'ms'"),
    ({"ok": True, "re": 7, "ms": float("inf"), "fingerprint_at_return": [], "python_threads": 0}, "'ms'"),
    ({"ok": True, "re": 7, "ms": 1.0, "fingerprint_at_return": ["a"], "python_threads": 0}, "fingerprint"),
    ({"ok": True, "re": 7, "ms": 1.0, "fingerprint_at_return": [], "python_threads": True}, "python_threads"),
    ({"ok": "yes", "re": 7}, "ok flag"),
    ({"ok": False, "re": 7, "error": 3}, "'error'"),
    ({"ok": True, "re": 7, "ms": 1.0, "fingerprint_at_return": [], "python_threads": 0, "op_s": "x"}, "'op_s'"),
])
def test_malformed_replies_are_refused(reply, why) -> None:
    with pytest.raises(MalformedReply, match=why):
        check_reply("time_call", 7, reply)


def test_other_ops_are_checked_too() -> None:
    with pytest.raises(MalformedReply, match="patched"):
        check_reply("integrity", 1, {"ok": True, "re": 1, "patched": "nothing", "python_threads": 0})
    with pytest.raises(MalformedReply, match="custom_share"):
        check_reply("label", 1, {"ok": True, "re": 1, "custom_share": 2.0, "ran": [], "defined": []})
    with pytest.raises(MalformedReply, match="data it was not asked for"):
        check_reply("integrity", 1, {"ok": True, "re": 1, "patched": [], "python_threads": 0}, has_blob=True)


def test_projection_replies_are_checked() -> None:
    """A timed call's projections (issue 14.1) come with the next `prepare`, or from `project`."""
    assert check_reply("prepare", 1, {"ok": True, "re": 1, "projections": [[1.0, float("nan")]]})
    assert check_reply("prepare", 1, {"ok": True, "re": 1})  # the first call has none to give
    for op, reply in (("prepare", {"projections": [1.0]}), ("project", {"projections": [["x"]]}),
                      ("project", {}), ("time_burst", {"fingerprints": [], "python_threads": 0, "projections": [[1.0]]})):
        with pytest.raises(MalformedReply, match="projections"):
            check_reply(op, 1, {"ok": True, "re": 1, **reply})
