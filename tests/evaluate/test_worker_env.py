"""Every JIT cache a candidate's libraries write lies inside its worker's own folder (the only place
the sandbox lets it write), so that a CuPy or Triton kernel compiles under the sandbox."""

from __future__ import annotations

from pathlib import Path

from kernelswarm.evaluate.procs import WorkerProcess

CACHES = ("TORCH_EXTENSIONS_DIR", "TRITON_CACHE_DIR", "TORCHINDUCTOR_CACHE_DIR", "CUDA_CACHE_PATH",
          "PYTORCH_KERNEL_CACHE_PATH", "CUPY_CACHE_DIR", "TMPDIR")


def test_jit_caches_live_in_the_worker_folder(tmp_path: Path) -> None:
    w = WorkerProcess("candidate", tmp_path / "candidate", "cpu")
    try:
        raw = Path(f"/proc/{w.proc.pid}/environ").read_bytes()
    finally:
        w.kill()
    env = dict(kv.split("=", 1) for kv in raw.decode().split("\0") if "=" in kv)
    for name in CACHES:
        assert name in env, name
        assert Path(env[name]).resolve().is_relative_to((tmp_path / "candidate").resolve()), (name, env[name])
