"""Issue 14.3: a project's `.env` beside the code the worker runs (the evaluator's working folder
is on its import path and is bound back into the worker's mount namespace) is not readable by a
candidate: each of contain.SECRET_FILES there, and in every folder above, reads empty."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path

import pytest
from fixtures import CANDIDATES, PROBLEMS

from kernelswarm.evaluate import EvalOptions, evaluate
from kernelswarm.evaluate.worker import contain
from kernelswarm.problems import load_problem

KEY = b"OPENAI_API_KEY=sk-kernelswarm-dotenv-test-5b1f\n"


@pytest.mark.skipif(not contain.available(), reason="no namespaces here")
def test_a_projects_env_file_is_not_readable(tmp_path, monkeypatch) -> None:
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / ".env").write_bytes(KEY)
    # A project whose code the worker imports (PYTHONPATH=. from its root), its .env beside that
    # code. A folder only on the evaluator's own import path is not in the worker's root at all
    # (test_a_key_in_a_folder_on_the_evaluators_import_path_is_not_readable).
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(project), os.environ.get("PYTHONPATH")) if p))
    options = EvalOptions.for_device("cpu", timeout_s=240.0, static_screen=False, timed_calls=10, min_timing_s=0.0,
                                     max_timed_calls=20, cpu_threads=1)
    source = (CANDIDATES / "isolation" / "dotenv_seeker.py").read_text()
    ev = evaluate(load_problem(PROBLEMS / "relu_linear.py"), source, options)
    leaked = hashlib.sha256(KEY).hexdigest()[:16]
    assert leaked not in ev.reason, ev.reason
    assert "found" in ev.reason and str(project / ".env") in ev.reason, ev.reason  # found, and read empty
    assert (project / ".env").read_bytes() == KEY  # covered in the worker's namespace only


def _plant(secret: bytes) -> list[Path]:
    """The secret in a folder of this test's own in every place it may make one outside the homes,
    /tmp and the code: /srv, /opt, /mnt, /var/lib and beside this repository's checkout (where a
    project keeps its store)."""
    repo = Path(__file__).resolve().parents[2]
    planted = []
    for root in (Path("/srv"), Path("/opt"), Path("/mnt"), Path("/var/lib"), repo.parent):
        folder = root / f"ks-test-{uuid.uuid4().hex[:12]}"
        try:
            folder.mkdir()
        except OSError:
            continue
        (folder / f"kernelswarm-planted-{uuid.uuid4().hex[:8]}.txt").write_bytes(secret)
        planted.append(folder)
    return planted


@pytest.mark.skipif(not contain.available(), reason="no namespaces here")
def test_a_secret_file_elsewhere_on_disk_is_absent() -> None:
    """Issue 14.3, files: a candidate that walks the filesystem for a planted secret (and reads any
    block device) finds nothing in its own root (worker/rootfs.py) and is accepted as the honest model
    it is; the secret, raw or hashed, is nowhere in the evaluation."""
    secret, ev, told, sandbox = _walk_for_a_planted_secret(_options(), skip_unplanted=True)
    told += " ".join([ev.reason, ev.log_tail, *(f"{c.name} {c.detail}" for c in ev.checks)])
    assert secret.decode() not in told and hashlib.sha256(secret).hexdigest() not in told, ev.reason
    assert "block devices read" not in told, ev.reason
    assert ev.verdict.value == "accepted", (ev.verdict.value, ev.reason)
    assert "private-root" in sandbox, sandbox


def _walk_for_a_planted_secret(options: EvalOptions, skip_unplanted: bool = False):
    """isolation/secret_walker judged with a fresh secret planted outside the homes, /tmp and the
    code (removed after): (secret, evaluation, its JSON, its sandbox line)."""
    secret = f"planted{uuid.uuid4().hex}".encode()
    planted = _plant(secret)
    if not planted and skip_unplanted:
        pytest.skip("no folder outside the homes, /tmp and the code could be made here")
    try:
        source = (CANDIDATES / "isolation" / "secret_walker.py").read_text()
        ev = evaluate(load_problem(PROBLEMS / "relu_linear.py"), source, options)
    finally:
        for folder in planted:
            shutil.rmtree(folder, ignore_errors=True)
    sandbox = " ".join(str(c.detail) for c in ev.checks if c.name == "sandbox")
    return secret, ev, json.dumps(ev.to_dict(), default=str), sandbox


def test_without_namespaces_the_sandbox_says_files_are_readable(monkeypatch) -> None:
    """Where no namespace is made, nothing hides other files: the sandbox check says so in its line
    (the verdict is the candidate's as before)."""
    monkeypatch.setenv("KERNELSWARM_NO_NAMESPACE", "1")
    source = (CANDIDATES / "correct" / "same_ops.py").read_text()
    ev = evaluate(load_problem(PROBLEMS / "relu_linear.py"), source, _options())
    sandbox = " ".join(str(c.detail) for c in ev.checks if c.name == "sandbox")
    assert "files elsewhere on disk readable" in sandbox, sandbox


def _options() -> EvalOptions:
    return EvalOptions.for_device("cpu", timeout_s=240.0, static_screen=False, timed_calls=10, min_timing_s=0.0,
                                  max_timed_calls=20, cpu_threads=1)


@pytest.mark.gpu
@pytest.mark.skipif(not contain.available(), reason="no namespaces here")
def test_on_the_gpu_the_own_root_keeps_cuda_working_and_hides_secrets() -> None:
    """The same candidate on a GPU: its root has /dev/nvidia*, libcuda and the toolkit (the
    candidate runs on the device and is accepted) and no planted secret. Triton and load_inline
    builds inside the own root are test_gpu_fixtures' correct/triton_* and correct/cuda_relu."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    options = EvalOptions.for_device("cuda", timeout_s=240.0, static_screen=False)
    secret, ev, told, sandbox = _walk_for_a_planted_secret(options)
    assert secret.decode() not in told and hashlib.sha256(secret).hexdigest() not in told, ev.reason
    assert ev.verdict.value == "accepted", (ev.verdict.value, ev.reason)
    assert "private-root" in sandbox, sandbox


def test_the_own_root_never_binds_a_home_or_a_folder_above_its_own(tmp_path) -> None:
    """A folder PATH or the import path names that is "/", a home, or above the new root's own
    /tmp, /dev, /proc or /sys would show what the own root hides: left out (rootfs.exposed)."""
    from kernelswarm.evaluate.worker import rootfs

    home = tmp_path / "home"
    (home / ".local" / "bin").mkdir(parents=True)
    shown = rootfs.exposed(["/", "/var", "/tmp", "/dev", str(home), str(home / ".local" / "bin")], [str(home)])
    assert not {"/", "/var", "/tmp", "/dev", str(home)} & set(shown), shown
    assert str(home / ".local" / "bin") in shown and "/usr" in shown


def test_a_compiler_outside_the_system_folders_gets_its_own_folders_only(tmp_path) -> None:
    """A gcc installed under its own prefix (/opt/gcc/bin/gcc on the H200 machine) needs its lib/,
    libexec/ and include/ (cc1plus, stddef.h) inside the own root, or load_inline and Triton's
    driver helper fail to build; the rest of its prefix, and what lies beside it, stays absent."""
    from kernelswarm.evaluate.worker import rootfs

    prefix = tmp_path / "opt" / "gcc"
    for sub in ("bin", "lib/gcc/x86_64-linux-gnu/13/include", "libexec/gcc", "include"):
        (prefix / sub).mkdir(parents=True)
    (prefix / "bin" / "gcc").write_text("#!/bin/sh\n")
    (prefix / "secret.txt").write_text("KEY")
    shown = set(rootfs.exposed([str(prefix / "bin")]))
    assert {str(prefix / d) for d in ("bin", "lib", "libexec", "include")} <= shown, shown
    assert str(prefix) not in shown and str(tmp_path / "opt") not in shown


@pytest.mark.skipif(not contain.available(), reason="no namespaces here")
def test_a_key_in_a_folder_on_the_evaluators_import_path_is_not_readable(tmp_path, monkeypatch) -> None:
    """Issue 14.3, adv12: a project folder on the evaluator's own import path (the folder of the
    script that started it, or one a notebook prepended) holding a key in an ordinary module and
    a store. A worker is a new interpreter and never imports from there: the folder is not in its
    root, and isolation/project_keys finds neither (before: both hashes came back)."""
    project = tmp_path / "project"
    project.mkdir()
    key = f"sk-adv12-{uuid.uuid4().hex}"
    (project / "settings.py").write_text(f'OPENAI_API_KEY = "{key}"\n')
    (project / "ks.db").write_bytes(b"SQLite format 3\x00" + b"\x00" * 84)
    monkeypatch.syspath_prepend(str(project))
    source = (CANDIDATES / "isolation" / "project_keys.py").read_text()
    ev = evaluate(load_problem(PROBLEMS / "relu_linear.py"), source, _options())
    told = json.dumps(ev.to_dict(), default=str)
    assert hashlib.sha256(key.encode()).hexdigest() not in told and key not in told, ev.reason
    assert str(project) not in told, ev.reason
    assert ev.verdict.value == "accepted", (ev.verdict.value, ev.reason)


def test_the_log_is_not_read_through_a_link_the_candidate_made():
    """adv13, cheat/log_link: the candidate's log replaced by a link to /proc/self/environ, which
    the evaluator resolved as itself when reading the log's tail: its environment came back in
    the verdict's log_tail. Now the tail is read only from a plain file (own_files.read_tail)."""
    with open("/proc/self/environ", "rb") as f:
        entries = [e.decode(errors="replace") for e in f.read().split(b"\0") if e][:3]
    source = (CANDIDATES / "cheat" / "log_link.py").read_text()
    ev = evaluate(load_problem(PROBLEMS / "relu_linear.py"), source, _options())
    told = json.dumps(ev.to_dict(), default=str)
    assert ev.verdict.value == "runtime_error", (ev.verdict.value, ev.reason)
    assert not [e for e in entries if e in told], ev.log_tail[:300]
