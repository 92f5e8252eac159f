"""The evaluator's two sides (issue 16): a worker process imports the worker side and the wire,
and nothing of the parent's logic."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kernelswarm.evaluate import EvalOptions
from kernelswarm.evaluate.parent import forkserver
from kernelswarm.evaluate.parent.procs import WorkerFailed, WorkerProcess, init_message
from kernelswarm.problems import load_problem

PROBLEM = Path(__file__).parent / "problems" / "relu_linear.py"
# The parent's logic, and what drives it: none of it may be in a worker process.
PARENT = ("kernelswarm.evaluate.parent", "kernelswarm.problems.suite", "kernelswarm.supervisor", "kernelswarm.store",
          "kernelswarm.cli", "kernelswarm.agents", "kernelswarm.llm", "kernelswarm.scale")
_REPORTER = """
import json, sys
print("MODULES=" + json.dumps(sorted(m for m in sys.modules if m.startswith("kernelswarm"))), flush=True)
"""


def _parent_modules(names: list[str]) -> list[str]:
    return [m for m in names if m.startswith(PARENT)]


def test_the_worker_entry_imports_nothing_of_the_parent() -> None:
    code = ("import json, sys; import kernelswarm.evaluate.worker.__main__; "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('kernelswarm'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=True).stdout
    names = json.loads(out.splitlines()[-1])
    assert "kernelswarm.evaluate.worker.main" in names and "kernelswarm.evaluate.wire.protocol" in names
    assert _parent_modules(names) == []


@pytest.mark.parametrize("zygote", ["1", "0"])
def test_a_candidates_process_holds_nothing_of_the_parent(tmp_path: Path, monkeypatch, zygote: str) -> None:
    """What a candidate's own code finds in its process once the worker runs (forked or not)."""
    monkeypatch.setenv(forkserver.ENV_SWITCH, zygote)
    w = WorkerProcess("candidate", tmp_path / "candidate", "cpu")
    try:
        deadline = time.monotonic() + 300
        w.call(init_message(load_problem(PROBLEM), EvalOptions.for_device("cpu")), deadline=deadline)
        with pytest.raises(WorkerFailed):  # it defines no ModelNew: the import fails after the print
            w.call({"op": "import", "source": _REPORTER, "path": str(w.workdir / "reporter.py")}, deadline=deadline)
    finally:
        w.kill()
    assert w.started_by == ("zygote" if zygote == "1" else "exec"), w.zygote_why
    line = next(x for x in w.log_path.read_text().splitlines() if x.startswith("MODULES="))
    names = json.loads(line[len("MODULES="):])
    assert "kernelswarm.evaluate.worker.candidate" in names
    assert _parent_modules(names) == []
