"""The secret rule and scrubbing (redact.py), and the worker environment built from it."""

from __future__ import annotations

import base64

from kernelswarm import redact
from kernelswarm.evaluate.parent.environment import worker_environment
from kernelswarm.records import Check, Evaluation, Verdict

KEY = "sk-proj-Zq8fake0key1for2tests3only4"


def test_secret_names_and_minimum_length(monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("HF_TOKEN", "short")  # below the minimum length: not a secret
    monkeypatch.setenv("PLAIN_SETTING", "not-a-secret-value")
    values = redact.secret_values()
    assert KEY in values and "short" not in values and "not-a-secret-value" not in values


def test_registered_names_are_secrets_whatever_they_are_called(monkeypatch) -> None:
    monkeypatch.setenv("MY_LLM_ACCESS", "abcdefghijklmnop-registered")
    redact.register_names(["MY_LLM_ACCESS"])
    assert "abcdefghijklmnop-registered" in redact.secret_values()
    assert redact.scrub("x abcdefghijklmnop-registered y") == "x [redacted] y"


def test_plain_encodings_are_scrubbed(monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    for form in (KEY, KEY[::-1], KEY.encode().hex(), base64.b64encode(KEY.encode()).decode()):
        assert KEY not in redact.scrub(f"kernel_{form}_end") and redact.contains_secret(f"a {form} b")
    assert redact.scrub("nothing here") == "nothing here"


def test_evaluation_scrubbed_throughout(monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    ev = Evaluation(problem="p", device="cpu", verdict=Verdict.REJECTED, reason=f"boom {KEY}",
                    checks=[Check("kind", True, f"top: {KEY}")], log_tail=f"print {KEY}",
                    phases_s={f"candidate.{KEY}": 1.0}, versions={"x": KEY})
    redact.scrub_record(ev)
    assert KEY not in ev.to_json() and ev.verdict is Verdict.REJECTED


def test_worker_environment_is_allow_listed(monkeypatch) -> None:
    env = {"PATH": "/usr/bin", "OPENAI_API_KEY": KEY, "CUDA_VISIBLE_DEVICES": "0", "LC_ALL": "C",
           "RANDOM_THING": "x" * 20, "KERNELSWARM_TEST": "1", "TORCH_SECRET_TOKEN": "y" * 20,
           "OMP_NUM_THREADS": KEY}  # a secret's value under an allowed name is dropped too
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    got = worker_environment(env)
    assert got == {"PATH": "/usr/bin", "CUDA_VISIBLE_DEVICES": "0", "LC_ALL": "C", "KERNELSWARM_TEST": "1"}
