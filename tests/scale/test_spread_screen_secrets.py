"""A run spread over Ray actors, and a shard of a run (issues 13 and 18), through the command line
with keys in the shell: problems are screened as a plain run screens them, and no secret reaches
the processes that run candidates, the store, the report or the output."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
from scale_fakes import LINEAR, ZERO

from kernelswarm.store import Store

CANDIDATES = Path(__file__).parent / "candidates"  # tiny_linear.py prints its worker's environment


@pytest.mark.slow
@pytest.mark.parametrize("spread", [["--ray", "local"], ["--shard", "1/1"]], ids=["ray", "shard"])
def test_a_spread_run_screens_as_a_plain_run_and_no_secret_reaches_a_worker(tmp_path: Path, spread: list[str]) -> None:
    """The always-zero problem is screened (on a Ray actor, or here) and flagged apart from the
    headline; the process that runs the candidate holds no secret by redact's rule (its printed
    environment shows neither the names nor digests of the values), and no key is in the store,
    the report or the output."""
    if spread[0] == "--ray":
        pytest.importorskip("ray")
    key, token = "sk-kstest-" + uuid.uuid4().hex, "tok-" + uuid.uuid4().hex
    secrets = {"OPENAI_API_KEY": key, "MY_SERVICE_TOKEN": token, "KERNELSWARM_COPIED": key}  # the last: a key under an allowed name
    digests = [hashlib.sha256(v.encode()).hexdigest()[:16] for v in (key, token)]
    ray_tmp = tempfile.mkdtemp(prefix="ksray", dir="/tmp")  # Ray's socket paths must stay short
    env = {**os.environ, **secrets, "PYTHONPATH": str(Path(__file__).parents[2] / "src"), "COLUMNS": "250",
           "KERNELSWARM_CACHE": str(tmp_path / "cache"), "RAY_TMPDIR": ray_tmp}
    try:
        proc = subprocess.run([sys.executable, "-m", "kernelswarm", "run", LINEAR, ZERO, "--device", "cpu", *spread,
                               "--agents", "folder", "--candidates", str(CANDIDATES), "--db", "run.db"],
                              env=env, cwd=tmp_path, capture_output=True, text=True, timeout=1500, check=False)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    store = Store(tmp_path / "run.db", read_only=True)
    run_id = store.latest_run_id()
    flags = {r.name: r.flags for r in store.problem_results(run_id)}
    assert flags["tiny_linear"] == () and any("zeros would pass" in f for f in flags["always_zero"]), flags
    assert "always_zero [flagged]" in proc.stdout and "1 flagged problem(s) kept out" in proc.stdout, proc.stdout
    [log] = [text for text in store.log_tails(run_id).values() if "worker environment:" in text]
    printed = log.rsplit("worker environment: ", 1)[1].splitlines()[0]
    names = {item.split("=", 1)[0] for item in printed.split()}
    assert "PATH" in names and not names & set(secrets), names
    assert not any(d in printed for d in digests)
    places = {"stdout": proc.stdout, "stderr": proc.stderr}
    for path in tmp_path.rglob("*"):
        if path.is_file():
            places[str(path.relative_to(tmp_path))] = path.read_bytes().decode(errors="replace")
    assert any(name.endswith(".html") for name in places), "the run wrote its report"
    for name, text in places.items():
        assert key not in text and token not in text, f"a secret is in {name}"
        assert not any(d in text for d in digests), f"a secret's digest is in {name}"
