"""Every JIT cache a candidate's libraries write lies inside its worker's own folder (the only place
the sandbox lets it write), so that a CuPy or Triton kernel compiles under the sandbox."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from fixtures import PROBLEMS
from kernelswarm.evaluate import EvalOptions
from kernelswarm.evaluate.parent.procs import WorkerFailed, WorkerProcess, init_message
from kernelswarm.problems import load_problem

CACHES = ("TORCH_EXTENSIONS_DIR", "TRITON_CACHE_DIR", "TORCHINDUCTOR_CACHE_DIR", "CUDA_CACHE_PATH",
          "PYTORCH_KERNEL_CACHE_PATH", "CUPY_CACHE_DIR", "TMPDIR")

# A candidate that says what environment and temporary folder its own code sees (a forked worker's
# /proc/<pid>/environ shows its zygote's starting block, not what the process's libraries read).
_REPORTER = """
import json, os, tempfile
print("ENV=" + json.dumps({**os.environ, "tempfile.gettempdir": tempfile.gettempdir()}), flush=True)
"""


def seen_by_candidate(w: WorkerProcess) -> dict[str, str]:
    deadline = time.monotonic() + 300
    w.call(init_message(load_problem(PROBLEMS / "relu_linear.py"), EvalOptions.for_device("cpu")), deadline=deadline)
    with pytest.raises(WorkerFailed):  # it defines no ModelNew: the import fails after the print
        w.call({"op": "import", "source": _REPORTER, "path": str(w.workdir / "reporter.py")}, deadline=deadline)
    line = next(x for x in w.log_path.read_text().splitlines() if x.startswith("ENV="))
    return json.loads(line[4:])


@pytest.mark.parametrize("zygote", ["1", "0"])
def test_jit_caches_live_in_the_worker_folder(tmp_path: Path, monkeypatch, zygote: str) -> None:
    monkeypatch.setenv("KERNELSWARM_ZYGOTE", zygote)
    w = WorkerProcess("candidate", tmp_path / "candidate", "cpu")
    try:
        assert w.started_by == ("zygote" if zygote == "1" else "exec"), w.zygote_why
        env = seen_by_candidate(w)
    finally:
        w.kill()
    for name in (*CACHES, "tempfile.gettempdir"):
        assert name in env, name
        assert Path(env[name]).resolve().is_relative_to((tmp_path / "candidate").resolve()), (name, env[name])
