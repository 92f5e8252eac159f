"""What a Ray actor's environment may hold: redact.py's secret rule, the project's one rule."""

from __future__ import annotations

import inspect

from kernelswarm import redact
from kernelswarm.scale import environment
from kernelswarm.scale.environment import actor_environment, allowed

KEY = "sk-kstest-0123456789abcdef0123"


def test_a_secret_by_redacts_rule_never_passes_whatever_its_prefix() -> None:
    for name in ("KERNELSWARM_API_KEY", "RAY_AUTH_TOKEN", "TORCH_HUB_TOKEN", "CUDA_SECRET", "LC_PASSWORD",
                 "HF_TOKEN", "OPENAI_API_KEY", "TRITON_CREDENTIALS", "NCCL_PASSWD"):
        assert redact.is_secret_name(name) and not allowed(name), name
    assert all(allowed(n) for n in ("PATH", "CUDA_VISIBLE_DEVICES", "RAY_ADDRESS", "KERNELSWARM_CACHE", "OMP_NUM_THREADS"))
    assert not allowed("AWS_REGION")  # not a secret, but not on the allow-list either


def test_a_registered_key_name_and_a_copied_key_value_stay_behind(monkeypatch) -> None:
    # A models file's api_key_env may have any name, even an allowed prefix; a key may be copied
    # into an allowed name. Neither reaches an actor, by the same rule that scrubs stored text.
    redact.register_names(["KERNELSWARM_LLM_ACCESS"])
    env = {"PATH": "/usr/bin", "KERNELSWARM_LLM_ACCESS": "registered-key-value-1", "OPENAI_API_KEY": KEY,
           "KERNELSWARM_NOTE": KEY, "CUDA_VISIBLE_DEVICES": "0", "HOME": "/home/u"}
    kept = actor_environment(env)
    assert kept == {"PATH": "/usr/bin", "CUDA_VISIBLE_DEVICES": "0", "HOME": "/home/u"}


def test_environment_has_no_secret_rule_of_its_own() -> None:
    source = inspect.getsource(environment)
    assert "re.compile" not in source and "redact.is_secret_name" in source
