"""Hostile winners in the whole-model training-step check (optimize/steps.py, issue 14): the
step process runs the winner's code, which can rewrite anything in that process. What is charged
must come from the parent's clock over everything the process did, what is compared from figures
the winner could not forge without doing the work, and nothing secret may be readable there."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernelswarm.optimize.steps import StepsError, check_steps

HERE = Path(__file__).parent / "candidates_steps"
KEY = "sk-kernelswarm-test-3c9f1e0d7a"


def _check(tmp_path: Path, name: str, timed: bool = True):
    return check_steps(HERE / "problem.py", HERE / f"{name}.py", "cpu", "", "eager", folder=tmp_path / name, timed=timed)


@pytest.mark.slow
def test_honest_copy_passes_and_is_not_faster(tmp_path):
    r = _check(tmp_path, "honest")
    assert r.passed, r.detail
    assert r.n >= 20 and "timed adamw" in r.worst and r.worst["timed adamw"] <= 1.0
    assert r.speedup < 3.0, r  # a copy of the baseline (noise on a loaded 2-core machine allowed)
    assert "contained" in r.sandbox


@pytest.mark.slow
def test_forged_timed_steps_are_refused(tmp_path):
    """Honest while checked, no work while timed: before, accepted at many times the baseline's
    speed (its timed steps were never checked); now its timed losses and final parameters are
    compared with the clean processes' replay of the same steps."""
    r = _check(tmp_path, "forge_timed_steps")
    assert not r.passed, (r.detail, r.speedup)
    assert "timed adamw steps" in r.detail, r.detail


@pytest.mark.slow
def test_work_moved_out_of_the_timed_request_is_charged(tmp_path):
    """The step done while the inputs were prepared: before, accepted with a step that took no time
    (over 5x); now both requests are charged and the process runs nothing between them."""
    r = _check(tmp_path, "work_while_preparing")
    assert r.passed, r.detail  # its figures are honest
    assert r.speedup < 3.0, (r.speedup, r.baseline_ms, r.candidate_ms)


def test_no_secret_in_the_step_process(tmp_path, monkeypatch):
    """A key in the parent's environment: before, the winner read it (its own environment held
    everything) and returned it in its error, which the parent stores; now it finds nothing."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with pytest.raises(StepsError) as err:
        _check(tmp_path, "steal_key", timed=False)
    assert "found:" in str(err.value) and KEY not in str(err.value), str(err.value)


def test_a_gradient_off_in_scale_only_is_refused(tmp_path):
    """A weight gradient 1% too large, every value else exact: AdamW's update hides a gradient's
    scale, momentum SGD's does not; the comparison of parameters after the SGD steps refuses it."""
    r = _check(tmp_path, "grad_scale", timed=False)
    assert not r.passed, r.detail
    assert "sgd" in r.detail, r.detail


def test_memory_held_by_a_winners_children_is_bounded(tmp_path, monkeypatch):
    """Children each under any per-process limit, 2.1 GiB together: before, nothing bounded the
    step process's memory; now its processes' resident memory together is (guard.py)."""
    monkeypatch.setenv("KERNELSWARM_MEMORY_MB", "1536")
    with pytest.raises(StepsError) as err:
        _check(tmp_path, "hoard_memory", timed=False)
    assert "memory" in str(err.value), str(err.value)


def test_no_project_key_readable_from_the_step_process(tmp_path, monkeypatch):
    """Issue 14.3 in optimize's step processes (adv13): a project folder on the parent's import path
    (the folder of the script that ran `optimize`), holding a key in its settings.py, an `.env`-free
    store, and the whole-model problem file the user gave; a key in the parent's environment too.
    Before, the step process's import path was the parent's whole sys.path, and the parents of the
    problem, candidate and loss files were bound into its root: the winner found the key's hash,
    the store and the clean processes' folders. Now its root shows only its own folder (copies of
    the files it runs), its PYTHONPATH the package's and the user's, and it finds nothing."""
    import hashlib
    import shutil
    import uuid

    project = tmp_path / "project"
    project.mkdir()
    key = f"sk-adv13-{uuid.uuid4().hex}"
    (project / "settings.py").write_text(f'OPENAI_API_KEY = "{key}"\n')
    (project / "ks.db").write_bytes(b"SQLite format 3\x00" + b"\x00" * 84)
    shutil.copyfile(HERE / "problem.py", project / "model_problem.py")
    monkeypatch.syspath_prepend(str(project))
    monkeypatch.setenv("OPENAI_API_KEY", key)
    with pytest.raises(StepsError) as err:
        check_steps(project / "model_problem.py", HERE / "project_keys.py", "cpu", "", "eager",
                    folder=tmp_path / "steps", timed=False)
    told = str(err.value)
    assert "found:" in told, told
    assert hashlib.sha256(key.encode()).hexdigest()[:16] not in told and key not in told, told
    assert "store" not in told and "sibling" not in told and str(project) not in told, told


def test_a_state_dict_that_inflates_is_refused(tmp_path):
    """adv13: the parameters a winner's step process writes are read back by the judging process
    with torch.load, which inflates a zip's compressed entries: a 1 MB file of deflated zeros took
    1 GiB of the judging process's memory (2 GiB of file, as the disk guard allows: 2 TiB). Now
    only entries stored as torch.save stores them are read, mapped, never more than the file."""
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(StepsError) as err:
        _check(tmp_path, "zip_bomb", timed=False)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert "compressed entries" in str(err.value), str(err.value)
    assert grown_mib < 512, grown_mib


def test_nothing_a_winner_leaves_outlives_the_check(tmp_path, monkeypatch):
    """adv13: files in /dev/shm, /tmp and /var/tmp and a child that tried to leave its session,
    from the candidate's step process: after the check, none is on the machine."""
    import os
    import uuid

    tag = uuid.uuid4().hex
    monkeypatch.setenv("KERNELSWARM_TEST_TAG", tag)
    r = _check(tmp_path, "leftovers", timed=False)
    assert r.passed, r.detail
    assert not [f for f in ("/dev/shm", "/tmp", "/var/tmp") if os.path.exists(f"{f}/ks-steps-{tag}")]
    from kernelswarm.evaluate.parent import forkserver

    zygotes = set(forkserver.zygote_pids())  # a zygote started here carries the tag, runs no candidate
    needle = f"KERNELSWARM_TEST_TAG={tag}".encode()
    alive = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid() and int(pid) not in zygotes:
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    if needle in f.read():
                        alive.append(pid)
            except OSError:
                pass
    assert not alive, alive


def test_links_in_the_winners_folder_are_not_followed(tmp_path, monkeypatch):
    """adv13: the judging process copies the user's weights into the candidate's folder and reads
    its log there. Before, a link the winner made there was followed on the machine's own
    filesystem: a file of the user's (here one in the machine's /tmp) was overwritten with the
    weights, and the log's link to /proc/self/environ put the judging process's environment in
    the error. Now neither is followed (evaluate/parent/own_files.py)."""
    import os
    import uuid

    tag = uuid.uuid4().hex
    monkeypatch.setenv("KERNELSWARM_TEST_TAG", tag)
    victim = f"/tmp/ks-adv13-victim-{tag}"
    with open(victim, "w") as f:
        f.write("the user's own file\n")
    with open("/proc/self/environ", "rb") as f:
        own_environment = f.read().split(b"\0")[0].decode(errors="replace")[:60]
    try:
        with pytest.raises(StepsError) as err:
            _check(tmp_path, "link_out", timed=False)
        with open(victim, "rb") as f:
            assert f.read() == b"the user's own file\n"
    finally:
        os.unlink(victim)
    assert "died" in str(err.value) and own_environment not in str(err.value), str(err.value)


def test_a_link_an_earlier_winner_left_in_a_kept_folder_is_not_written_through(tmp_path):
    """adv13: the steps folder is kept (for inspection) and reused by the next check; a winner's
    own folder may hold a link it made, where the judging process opens the next step process's
    log for writing: before, that truncated the file the link named (a user's file)."""
    victim = tmp_path / "users_file"
    victim.write_text("the user's own file\n")
    own = tmp_path / "honest" / "candidate"
    own.mkdir(parents=True)
    (own / "log.txt").symlink_to(victim)
    (own / "problem.py").symlink_to(victim)
    r = _check(tmp_path, "honest", timed=False)
    assert r.passed, r.detail
    assert victim.read_text() == "the user's own file\n"
