"""Set up kernelswarm in ./.venv (once) and run it: the README's two quick-start commands.

    python3 quickstart.py run [ARGS...]    # kernelswarm run ARGS... (the main job)
    python3 quickstart.py test [ARGS...]   # the test suite (pytest ARGS...; none: the whole suite, two at once)
    python3 quickstart.py eval [ARGS...]   # any other kernelswarm command

Needs only Python 3.10+. The virtual environment sees the system's packages, so a PyTorch that is
already installed (a CUDA build, say) is used as it is; only when none is importable does this
install one (KERNELSWARM_TORCH, default torch==2.13.0).
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".kernelswarm-installed"


def _run(*cmd: str) -> None:
    result = subprocess.run(cmd, cwd=ROOT)
    if result.returncode != 0:
        sys.exit(f"quickstart: `{' '.join(cmd)}` failed with exit code {result.returncode}")


def _has(module: str) -> bool:
    return subprocess.run([str(PY), "-c", f"import {module}"], capture_output=True).returncode == 0


def setup() -> None:
    if sys.version_info < (3, 10):
        sys.exit("quickstart: kernelswarm needs Python 3.10 or newer")
    if not PY.exists():
        print("quickstart: creating .venv", flush=True)
        venv.EnvBuilder(system_site_packages=True, with_pip=True).create(VENV)
    if not _has("torch"):
        spec = os.environ.get("KERNELSWARM_TORCH", "torch==2.13.0")
        print(f"quickstart: no PyTorch found; installing {spec}", flush=True)
        _run(str(PY), "-m", "pip", "install", "-q", spec)
    pyproject = ROOT / "pyproject.toml"
    if not STAMP.exists() or STAMP.stat().st_mtime < pyproject.stat().st_mtime or not _has("kernelswarm"):
        print("quickstart: installing kernelswarm into .venv", flush=True)
        _run(str(PY), "-m", "pip", "install", "-q", "-e", ".[test]")
        STAMP.touch()


def _spread() -> list[str]:
    """The whole suite on two processes (pytest-xdist) where there are two cores: most tests wait
    on child processes, compilers and the machine's timing lock, not on a core, so two at once
    finish in about half the time; the evaluator's timing is judged under such load anyway (every
    evaluation on the machine takes turns on one timing lock). Arguments given: exactly those."""
    if (os.cpu_count() or 1) < 2 or not _has("xdist"):
        return []
    return ["-n", "2"]


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        return
    setup()
    command, args = sys.argv[1], sys.argv[2:]
    if command == "test":
        cmd = [str(PY), "-m", "pytest", *(args or _spread())]
    else:
        cmd = [str(PY), "-m", "kernelswarm", command, *args]
    sys.exit(subprocess.run(cmd, cwd=ROOT).returncode)


if __name__ == "__main__":
    main()
