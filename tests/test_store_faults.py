"""The store on hostile media: a disk that fills up mid-run, and read-only media afterwards."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from loadslack import allow

from kernelswarm.store import Store

SRC = str(Path(__file__).parents[1] / "src")
TESTS = str(Path(__file__).parent)
LINEAR = str(Path(__file__).parent / "fixtures" / "swarm" / "problems" / "tiny_linear.py")

# A run whose every evaluation stores a 24 KB log: a small filesystem (or file size limit) fills
# after a few of them. Afterwards the store is copied out of the small filesystem for the test.
_DRIVER = """
import os, resource, shutil, sys
sys.path[:0] = [{tests!r}, {tests!r} + "/cli"]
import kernelswarm.supervisor as s
import kernelswarm.cli.run_cmd as run_cmd
import test_run_cmd as t
from test_supervisor import ScriptedAgent

db, out, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
def logged(problem, source, options):
    ev = t.fake_evaluate(problem, source, options)
    ev.log_tail = os.urandom(12 * 1024).hex()
    return ev

s._real_evaluator = lambda: logged
s._real_baseline_timer = lambda: t.fake_baselines
rounds = {{r: [f"# {{r}}\\nclass ModelNew: pass\\n"] for r in range(60)}}
run_cmd._agents = lambda config: [ScriptedAgent("a", rounds)]
if limit:
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
from kernelswarm.cli import app
try:
    app(["run", {linear!r}, "--db", db, "--rounds", "60"])
    code = 0
except SystemExit as e:
    code = e.code
finally:
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
for suffix in ("", "-wal"):
    if os.path.exists(db + suffix):
        shutil.copyfile(db + suffix, os.path.join(out, "k.db" + suffix))
sys.exit(code)
"""


def _mount_ns() -> list[str] | None:
    """A command prefix for a private mount namespace (as root, or through a user namespace)."""
    if shutil.which("unshare") is None:
        return None
    prefix = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-rm"]
    ok = subprocess.run([*prefix, "true"], capture_output=True).returncode == 0
    return prefix if ok else None


def _full_disk_run(tmp_path: Path, how: str) -> subprocess.CompletedProcess:
    small, out = tmp_path / "small", tmp_path / "out"
    small.mkdir()
    out.mkdir()
    driver = tmp_path / "driver.py"
    driver.write_text(_DRIVER.format(tests=TESTS, linear=LINEAR))
    env = {**os.environ, "PYTHONPATH": SRC, "COLUMNS": "200"}
    db = str(small / "k.db")
    if how == "tmpfs":
        prefix = _mount_ns()
        if prefix is None:
            pytest.skip("no mount namespace here (unshare missing or refused)")
        script = 'mount -t tmpfs -o size=320k tmpfs "$1" && shift && exec "$@"'
        cmd = [*prefix, "sh", "-c", script, "sh", str(small), sys.executable, str(driver), db, str(out), "0"]
    else:
        cmd = [sys.executable, str(driver), db, str(out), str(320 * 1024)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=allow(300))
    if how == "tmpfs" and "mount" in r.stderr and r.returncode != 2:
        pytest.skip(f"tmpfs could not be mounted: {r.stderr.strip()[:200]}")
    return r


@pytest.mark.parametrize("how", ["tmpfs", "file-size-limit"])
def test_a_full_disk_stops_the_run_in_one_line_and_loses_nothing_finished(tmp_path: Path, how: str) -> None:
    r = _full_disk_run(tmp_path, how)
    assert r.returncode == 2, (r.stdout[-2000:], r.stderr[-2000:])
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr[-3000:]
    assert "could not be written" in lines[0] and "--resume" in lines[0]
    announced = r.stdout.count(": accepted")  # announced only once stored
    assert announced >= 2, r.stdout[-2000:]
    store = Store(tmp_path / "out" / "k.db", read_only=True)
    [run] = store.list_runs()
    stored = [c for c in store.candidates(run.id) if c.verdict is not None]
    assert len(stored) >= announced  # everything finished before the disk filled is there
    assert run.status == "running"  # stopped, resumable


_MAKE = """
import os, sys
from kernelswarm.store import Store
s = Store(sys.argv[1])
run = s.create_run("cpu", {}, {"torch": "x"})
pid = s.add_problem(run, 0, "tiny", 1, "h", "tiny.py", "class Model: pass", {})
s.set_baselines(pid, None, None, "baselines failed: none here")
s.mark_problem_done(pid)
if sys.argv[2] == "killed":
    os._exit(0)  # no checkpoint: the commits are still in the -wal file beside the store
s.set_run_status(run, "finished")
s.close()
"""


def _read_only_media(folder: Path, *command: str) -> subprocess.CompletedProcess:
    """Run a command that sees `folder` as read-only media: a read-only bind mount in a private
    mount namespace, or, where there is none and we are not root, a folder without write permission."""
    env = {**os.environ, "PYTHONPATH": SRC}
    prefix = _mount_ns()
    if prefix is not None:
        script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
        return subprocess.run([*prefix, "sh", "-c", script, "sh", str(folder), *command],
                              capture_output=True, text=True, env=env, timeout=allow(120))
    if os.geteuid() == 0:
        pytest.skip("no mount namespace, and root ignores permissions")
    modes = {p: p.stat().st_mode for p in [folder, *folder.iterdir()]}
    for p in modes:
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        return subprocess.run(list(command), capture_output=True, text=True, env=env, timeout=allow(120))
    finally:
        for p, mode in modes.items():
            p.chmod(mode)


@pytest.mark.parametrize("state", ["finished", "killed"])
def test_report_and_export_read_a_store_on_read_only_media(tmp_path: Path, state: str) -> None:
    media = tmp_path / "media"
    media.mkdir()
    subprocess.run([sys.executable, "-c", _MAKE, str(media / "k.db"), state], check=True,
                   env={**os.environ, "PYTHONPATH": SRC}, timeout=allow(60))
    assert (media / "k.db-wal").exists() == (state == "killed")
    before = sorted(p.name for p in media.iterdir())
    ks = [sys.executable, "-m", "kernelswarm"]
    r = _read_only_media(media, *ks, "report", "--db", str(media / "k.db"), "--out", str(tmp_path / "report"))
    assert r.returncode == 0, r.stderr
    assert "report of run 1" in r.stdout and (tmp_path / "report" / "index.html").is_file()
    r = _read_only_media(media, *ks, "export", "--db", str(media / "k.db"), "--out", str(tmp_path / "export"))
    assert r.returncode == 0, r.stderr
    assert "from run 1" in r.stdout
    assert sorted(p.name for p in media.iterdir()) == before  # nothing written beside it
