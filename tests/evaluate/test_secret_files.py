"""Issue 14.3: a project's `.env` beside the code the worker runs (the evaluator's working folder
is on its import path and is bound back into the worker's mount namespace) is not readable by a
candidate: each of contain.SECRET_FILES there, and in every folder above, reads empty."""

from __future__ import annotations

import hashlib

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
    monkeypatch.syspath_prepend(str(project))  # as `python -m kernelswarm` run from the project has it
    options = EvalOptions.for_device("cpu", timeout_s=240.0, static_screen=False, timed_calls=10, min_timing_s=0.0,
                                     max_timed_calls=20, cpu_threads=1)
    source = (CANDIDATES / "isolation" / "dotenv_seeker.py").read_text()
    ev = evaluate(load_problem(PROBLEMS / "relu_linear.py"), source, options)
    leaked = hashlib.sha256(KEY).hexdigest()[:16]
    assert leaked not in ev.reason, ev.reason
    assert "found" in ev.reason and str(project / ".env") in ev.reason, ev.reason  # found, and read empty
    assert (project / ".env").read_bytes() == KEY  # covered in the worker's namespace only
