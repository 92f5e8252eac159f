"""Hostile candidates judged inside a Ray actor (`kernelswarm run --ray`'s path, a local Ray on
this machine's CPUs): the secret and the escape classes keep the verdicts and the containment they
get in a local evaluation. Skipped where Ray is not installed or cannot start here."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "evaluate"))
from fixtures import CANDIDATES, PROBLEMS  # noqa: E402

from kernelswarm.evaluate.parent.options import EvalOptions  # noqa: E402
from kernelswarm.problems.load import load_problem  # noqa: E402

SECRETS = {"OPENAI_API_KEY": "sk-ray-actor-0123456789abcdef", "KERNELSWARM_API_KEY": "ks-key-0123456789abcdef",
           "DB_PASSWORD": "hunter2-ray-0123456789"}
SPIN = b"while True: time.sleep(0.05)"  # what cheat/escape_session's children run


def _escapees() -> list[int]:
    """Live processes running cheat/escape_session's spinning child (none of Ray's)."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    if SPIN in f.read():
                        found.append(int(name))
            except OSError:
                continue
    return found


@pytest.mark.slow
def test_secret_and_escape_candidates_in_a_ray_actor(monkeypatch) -> None:
    ray = pytest.importorskip("ray")
    from kernelswarm.scale.ray_pool import ActorPool, RayError, connect

    tag = uuid.uuid4().hex
    for k, v in SECRETS.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("KERNELSWARM_TEST_TAG", tag)  # reaches the actors (KERNELSWARM_*), not a secret
    before = set(_escapees())
    temp = tempfile.mkdtemp(prefix="ksray", dir="/tmp")  # Ray's socket paths must stay short
    try:
        try:
            connect("local", num_cpus=2, temp_dir=temp)
        except RayError as e:
            pytest.skip(f"Ray cannot start here: {e}")
        pool = ActorPool("cpu", jobs=1, cpu_threads=1)
        place = pool.places[0]
        # The actor's environment as it was started (what /proc/<actor>/environ shows a reader).
        assert not set(SECRETS) & set(place["environment_at_start"])
        with open(f"/proc/{place['pid']}/environ", "rb") as f:
            environ = f.read()
        assert not [v for v in SECRETS.values() if v.encode() in environ]
        options = EvalOptions.for_device("cpu", timeout_s=300, static_screen=False, timed_calls=10,
                                         max_timed_calls=20, cpu_threads=1)
        problem = load_problem(PROBLEMS / "relu_linear.py")
        banned = list(SECRETS.values()) + [hashlib.sha256(v.encode()).hexdigest() for v in SECRETS.values()]
        for name in ("secret_smuggle", "escape_session"):
            source = (CANDIDATES / "cheat" / f"{name}.py").read_text()
            ev = pool.call(0, "evaluate", problem, source, options)
            assert ev.verdict.value in ("accepted", "rejected"), (name, ev.verdict, ev.reason, ev.log_tail)
            text = repr(ev)
            assert not [b for b in banned if b in text], f"{name}: a secret came back from the actor"
        # Nothing of the escaping candidate outlived its evaluation in the actor: no process, no file.
        deadline = time.monotonic() + 5
        while set(_escapees()) - before and time.monotonic() < deadline:
            time.sleep(0.2)
        assert set(_escapees()) - before == set(), "a candidate's process outlived its evaluation in a Ray actor"
        left = [p for p in (f"/dev/shm/ks-escape-{tag}", f"/tmp/ks-escape-{tag}", f"/var/tmp/ks-escape-{tag}")
                if os.path.exists(p)]
        assert left == [], f"files a candidate wrote in a Ray actor outlived its evaluation: {left}"
        assert pool.lost == []  # the actor lived through both
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
