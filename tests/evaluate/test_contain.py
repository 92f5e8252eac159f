"""Issue 14.3 and 14.4: nothing a candidate starts or writes outlives its evaluation, and no
secret of the evaluator's is readable from a candidate's process (contain.py, confine.py, shield.py)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import hostile
import pytest
from fixtures import PROBLEMS, running_with

from kernelswarm.evaluate import EvalOptions, evaluate
from kernelswarm.evaluate.worker import contain
from kernelswarm.evaluate.parent import forkserver
from kernelswarm.problems import load_problem

SRC = str(Path(__file__).parents[2] / "src")
MODES = [pytest.param({}, id="namespace"), pytest.param({"KERNELSWARM_NO_NAMESPACE": "1"}, id="session")]


def _options(timeout: float = 240.0) -> EvalOptions:
    return EvalOptions.for_device("cpu", timeout_s=timeout, static_screen=False, timed_calls=10, min_timing_s=0.0,
                                  max_timed_calls=20, cpu_threads=1)


def tagged(tag: str) -> list[int]:
    """Live processes carrying this test's tag in their environment (only what the test started)."""
    # The zygote (zygote.py) carries the tag of the test that started it and never runs candidate code.
    zygotes = set(forkserver.zygote_pids())
    needle = f"KERNELSWARM_TEST_TAG={tag}".encode()
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid() and int(pid) not in zygotes:
            try:
                if running_with(int(pid), needle):
                    found.append(int(pid))
            except OSError:
                continue
    return found


def _leftover_files(tag: str) -> list[str]:
    return [p for p in (f"/dev/shm/ks-escape-{tag}", f"/tmp/ks-escape-{tag}", f"/var/tmp/ks-escape-{tag}") if os.path.exists(p)]


@pytest.mark.parametrize("mode", MODES)
def test_escaped_processes_die_and_written_files_go(mode: dict, monkeypatch) -> None:
    tag = uuid.uuid4().hex
    monkeypatch.setenv("KERNELSWARM_TEST_TAG", tag)
    for k, v in mode.items():
        monkeypatch.setenv(k, v)
    ev = evaluate(load_problem(PROBLEMS / "relu_linear.py"), hostile.escaper(), _options())
    try:
        assert tagged(tag) == [], f"processes outlived the evaluation ({ev.verdict.value}: {ev.reason})"
        assert _leftover_files(tag) == [], "files the candidate wrote outlived the evaluation"
        if ev.verdict.value in ("accepted", "incorrect") or any(c.name == "contained" for c in ev.checks):
            assert any(c.name == "contained" and c.passed for c in ev.checks), ev.checks
    finally:
        for pid in tagged(tag):
            os.kill(pid, signal.SIGKILL)
        for path in _leftover_files(tag):
            os.unlink(path)


_EVAL_DRIVER = """
import sys
import kernelswarm.evaluate.parent.run as run
run.screen_source = lambda source: []  # the hostile code must reach the worker, not the screen
from kernelswarm.cli import app
app(sys.argv[1:])
"""


def _eval_proc(tmp_path: Path, candidate: str, env: dict[str, str], timeout: float = 240.0) -> subprocess.Popen:
    path = tmp_path / "candidate.py"
    path.write_text(candidate)
    (tmp_path / "tmp").mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONPATH": SRC, "TMPDIR": str(tmp_path / "tmp"), **env}
    args = ["eval", str(PROBLEMS / "relu_linear.py"), str(path), "--device", "cpu", "--json", "--timeout", str(timeout)]
    return subprocess.Popen([sys.executable, "-c", _EVAL_DRIVER, *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=tmp_path)


@pytest.mark.parametrize("mode", MODES)
def test_sigkill_of_the_evaluator_leaves_nothing(mode: dict, tmp_path: Path) -> None:
    """A candidate's processes die with a SIGKILLed evaluator (with a namespace: at once; in a
    session: by the next evaluation's clean-up), and the next one removes the temp folder."""
    tag = uuid.uuid4().hex
    proc = _eval_proc(tmp_path, hostile.escaper(hang=True), {"KERNELSWARM_TEST_TAG": tag, **mode})
    try:
        deadline = time.monotonic() + 180
        while len(tagged(tag)) < 4 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)  # the evaluator, its two workers and the candidate's first child
        assert proc.poll() is None and len(tagged(tag)) >= 4, proc.communicate()[1].decode()[-2000:]
        time.sleep(1.0)  # its other escapes under way
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        if not mode:  # the namespace dies with its first process, which dies with the evaluator
            end = time.monotonic() + 30
            while tagged(tag) and time.monotonic() < end:
                time.sleep(0.1)
            assert tagged(tag) == [], "the candidate's processes outlived a SIGKILLed evaluator"
        folders = list((tmp_path / "tmp").glob(contain.PREFIX + "*"))
        assert folders, "the killed evaluator's folder should still be there for the next one to remove"
        alive = tmp_path / "tmp" / (contain.PREFIX + "alive")  # one whose owner lives is left alone
        alive.mkdir()
        contain.claim_folder(alive)
        removed = contain.clean_stale(str(tmp_path / "tmp"))
        assert sorted(removed) == sorted(str(f) for f in folders) and alive.exists()
        end = time.monotonic() + 10
        while tagged(tag) and time.monotonic() < end:
            time.sleep(0.1)
        assert tagged(tag) == [], "the next evaluation's clean-up left the candidate's processes alive"
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in tagged(tag):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("mode", MODES)
def test_no_key_in_a_candidates_own_memory_or_folder(mode: dict, tmp_path: Path) -> None:
    """cheat/secret_own_memory scans its own memory (what it inherited from the zygote), its
    descriptors, its folder and its namespace's first process for anything shaped like a key,
    and raises with each value's hash if it finds one (adv15): with keys in the evaluator's
    environment their hashes must not come back, nor the keys themselves."""
    key = "sk-kstest-" + uuid.uuid4().hex + uuid.uuid4().hex[:8]
    source = (Path(__file__).parent / "candidates" / "cheat" / "secret_own_memory.py").read_text()
    proc = _eval_proc(tmp_path, source, {"OPENAI_API_KEY": key, "KS_ADV15_TOKEN": key[::-1], **mode})
    out, err = proc.communicate(timeout=400)
    text = out.decode() + err.decode()
    json.loads(out)  # one JSON object, whatever the verdict (it may find key-shaped text of no one's)
    assert key not in text and key[::-1] not in text
    for planted in (key, key[::-1]):
        assert hashlib.sha256(planted.encode()).hexdigest() not in text, "the candidate could read a planted key"


@pytest.mark.parametrize("mode, raise_", [
    pytest.param({}, False, id="namespace"),
    pytest.param({}, True, id="namespace-raises"),
    pytest.param({"KERNELSWARM_NO_NAMESPACE": "1"}, False, id="session"),
    # A kernel without Landlock and without namespaces: the shield and the dropped capabilities hold.
    pytest.param({"KERNELSWARM_NO_NAMESPACE": "1", "KERNELSWARM_NO_LANDLOCK": "1"}, True, id="session-no-landlock"),
])
def test_no_secret_reaches_a_candidate_or_comes_back(mode: dict, raise_: bool, tmp_path: Path) -> None:
    """The candidate reads every environment it can reach; the key must be unreadable from it
    (its hash never comes back) and appear nowhere in what the evaluator prints."""
    key = "sk-kstest-" + uuid.uuid4().hex + uuid.uuid4().hex[:8]
    proc = _eval_proc(tmp_path, hostile.smuggler(raise_=raise_), {"OPENAI_API_KEY": key, **mode})
    out, err = proc.communicate(timeout=400)
    text = out.decode() + err.decode()
    result = json.loads(out)
    assert result["verdict"] in ("accepted", "runtime_error", "rejected"), text[-3000:]
    assert not result["reason"].startswith("static"), result["reason"]
    assert key not in text, "the key came back"
    assert hashlib.sha256(key.encode()).hexdigest() not in text, "the candidate could read the key"


@pytest.mark.skipif(not contain.available(), reason="no namespaces on this platform")
def test_a_kernelswarm_installed_under_tmp_still_runs_its_own_worker(tmp_path: Path) -> None:
    """The candidate's private /tmp must not hide the code the worker runs: a clone (or a venv)
    under /tmp gets its own worker, not another kernelswarm's, nor none."""
    import shutil

    assert str(tmp_path).startswith("/tmp/"), "pytest's tmp_path is where this test needs it"
    src = tmp_path / "clone" / "src"
    shutil.copytree(Path(SRC) / "kernelswarm", src / "kernelswarm", ignore=shutil.ignore_patterns("__pycache__"))
    candidate = tmp_path / "cand.py"
    candidate.write_text("import kernelswarm.evaluate.worker as w\nraise RuntimeError('worker from ' + w.__file__)\n")
    script = (
        "import sys\n"
        "from kernelswarm.evaluate import EvalOptions, evaluate\n"
        "from kernelswarm.problems import load_problem\n"
        f"p = load_problem({str(PROBLEMS / 'relu_linear.py')!r})\n"
        f"ev = evaluate(p, open({str(candidate)!r}).read(), EvalOptions.for_device('cpu', timeout_s=240.0, static_screen=False))\n"
        "print('VERDICT', ev.verdict.value, ev.reason)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(src)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    line = next((x for x in done.stdout.splitlines() if x.startswith("VERDICT")), done.stdout + done.stderr[-2000:])
    assert f"worker from {src}" in line, line


@pytest.mark.parametrize("mode", [pytest.param({}, id="namespace")])
def test_a_key_kept_in_a_home_folder_is_not_readable(mode: dict, monkeypatch) -> None:
    """Keys kept in files (a shell start-up file's export, .netrc) in the user's home: the homes
    are empty folders to the candidate (contain.home_folders), so cheat/secret_files, which walks
    them, finds nothing and its hash of the key never comes back (issue 14.3)."""
    if not contain.available():
        pytest.skip("no namespaces on this platform")
    from fixtures import CANDIDATES

    key = "sk-kstest-" + uuid.uuid4().hex + uuid.uuid4().hex[:8]
    # Under the user's own home, where keys are kept: not under /tmp (the private /tmp hides it
    # anyway) nor inside this checkout (bound back into the candidate's view as the worker's own
    # code: a checkout under /tmp would show the key for that reason alone).
    home = Path.home() / ".cache" / f"kernelswarm-test-home-{uuid.uuid4().hex}"
    try:
        try:
            home.mkdir(parents=True)
        except OSError as e:
            pytest.skip(f"no folder can be made in the user's home: {e}")
        (home / ".bashrc").write_text(f"export OPENAI_API_KEY={key}\n")
        (home / ".netrc").write_text(f"machine api.example.com login me password {key}\n")
        monkeypatch.setenv("HOME", str(home))
        ev = evaluate(load_problem(PROBLEMS / "relu_linear.py"), (CANDIDATES / "cheat" / "secret_files.py").read_text(),
                      _options())
        told = " ".join([ev.reason, ev.log_tail, *(f"{c.name} {c.detail}" for c in ev.checks)])
        assert hashlib.sha256(key.encode()).hexdigest() not in told, "the candidate read the key in the home folder"
        assert ev.verdict.value == "accepted", (ev.verdict.value, ev.reason)
        assert any(c.name == "sandbox" and "private-home" in str(c.detail) for c in ev.checks), ev.checks
    finally:
        import shutil

        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.parametrize("mode", MODES)
def test_a_zombie_leader_with_running_threads_dies_with_the_evaluation(mode: dict, monkeypatch) -> None:
    """cheat/zombie_leader leaves a process shown as a zombie whose other thread spins: counted,
    stopped and killed as alive (contain.session_states), in a namespace and in a session."""
    from fixtures import CANDIDATES

    tag = uuid.uuid4().hex
    monkeypatch.setenv("KERNELSWARM_TEST_TAG", tag)
    for k, v in mode.items():
        monkeypatch.setenv(k, v)
    ev = evaluate(load_problem(PROBLEMS / "relu_linear.py"), (CANDIDATES / "cheat" / "zombie_leader.py").read_text(),
                  _options())
    try:
        assert ev.verdict.value in ("accepted", "rejected"), (ev.verdict.value, ev.reason)
        assert tagged(tag) == [], f"a zombie leader's threads outlived the evaluation ({ev.reason})"
    finally:
        for pid in tagged(tag):
            os.kill(pid, signal.SIGKILL)
