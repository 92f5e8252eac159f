"""A worker's environment: the allow-listed part of this process's (never a secret), the folders
its compilers and libraries write their caches to (its own), and its import path. Standard
library only."""

from __future__ import annotations

import os
from pathlib import Path

from kernelswarm import redact

# What a worker's environment may hold: what Python, torch, compilers, CUDA, ROCm, Triton, CuPy,
# OpenMP and BLAS libraries read, and kernelswarm's own settings. Nothing else is passed on (an
# API key under any name never is), and a secret by redact.py's rule is dropped even from these.
_ENV_NAMES = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TERM", "PWD", "HOSTNAME",
    "LD_LIBRARY_PATH", "LIBRARY_PATH", "CPATH", "C_INCLUDE_PATH", "CPLUS_INCLUDE_PATH", "PKG_CONFIG_PATH",
    "CC", "CXX", "CFLAGS", "CXXFLAGS", "LDFLAGS", "NVCC_PREPEND_FLAGS", "NVCC_APPEND_FLAGS", "MAX_JOBS",
    "VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONNOUSERSITE",
    "PYTHONDONTWRITEBYTECODE", "PYTHONWARNINGS", "PYTHONFAULTHANDLER", "XDG_CACHE_HOME", "DISPLAY",
})
_ENV_PREFIXES = ("LC_", "CUDA", "CUDNN", "CUBLAS", "NVIDIA_", "NCCL_", "NV_", "TORCH", "PYTORCH_", "TRITON_",
                 "CUPY_", "HIP_", "ROCM_", "HSA_", "OMP_", "KMP_", "GOMP_", "MKL_", "OPENBLAS_", "DNNL_",
                 "ONEDNN_", "KERNELSWARM_", "MALLOC_")


def worker_environment(environ: "dict[str, str] | os._Environ[str]") -> dict[str, str]:
    """The allow-listed part of `environ`, without any secret (see _ENV_NAMES)."""
    secrets = set(redact.secret_values(environ))
    return {k: v for k, v in environ.items()
            if (k in _ENV_NAMES or k.startswith(_ENV_PREFIXES)) and not redact.is_secret_name(k) and v not in secrets}


def worker_env(workdir: Path, gpu: str | None = None) -> dict[str, str]:
    """A worker's whole environment: the allow-listed part of this process's, with every cache a
    compiler or library writes kept in `workdir` (the only folder a sandboxed candidate may write
    to), and settings that make two workers' per-call overheads alike. Creates `workdir/tmp`."""
    env = {**zygote_environment(gpu), **own_environment(workdir)}
    (workdir / "tmp").mkdir(parents=True, exist_ok=True)
    return env


def zygote_environment(gpu: str | None) -> dict[str, str]:
    """The part of a worker's environment that is the same for every worker of a device: what a
    zygote is started with (libraries read some of it, OpenMP's and malloc's, when they load)."""
    env = worker_environment(os.environ)
    env.update(
        PYTHONUNBUFFERED="1",
        # Fixed allocator thresholds: glibc otherwise adapts them to each process's history, so
        # that one worker's fresh tensors page-fault on every call and another's do not, and
        # per-call overheads of the candidate and the clean worker would differ by milliseconds.
        MALLOC_MMAP_THRESHOLD_=str(32 << 20),
        MALLOC_TRIM_THRESHOLD_=str(1 << 30),
        # OpenMP threads sleep as soon as a parallel region ends instead of spinning on the
        # cores, where they slowed the other worker's calls (3 to 5 ms per call on 2 cores here).
        OMP_WAIT_POLICY="PASSIVE",
        PYTHONPATH=worker_python_path(env),
    )
    if gpu is not None:  # this evaluation's GPU (EvalOptions.gpu): the worker sees it alone, as cuda:0
        env["CUDA_VISIBLE_DEVICES"] = gpu
    return env


def copy_seed(seed: str | None, workdir: Path) -> None:
    """The seed's cache folders (baselines.SEED_CACHES) copied into `workdir`, where the worker's
    environment points its compilers (own_environment). A missing seed (a resumed run, another
    host) leaves the caches empty."""
    if not seed or not Path(seed).is_dir():
        return
    import shutil

    for part in Path(seed).iterdir():
        if part.is_dir() and not part.is_symlink():
            shutil.copytree(part, workdir / part.name, symlinks=True, dirs_exist_ok=True)


def own_environment(workdir: Path) -> dict[str, str]:
    """What is this worker's alone: its caches and temporary folder, and a hash seed."""
    return dict(
        TORCH_EXTENSIONS_DIR=str(workdir / "torch_extensions"),
        TRITON_CACHE_DIR=str(workdir / "triton_cache"),
        TORCHINDUCTOR_CACHE_DIR=str(workdir / "inductor_cache"),
        TMPDIR=str(workdir / "tmp"),
        # Caches that default to the home folder, kept in the worker's own folder: the candidate's
        # worker may write nowhere else (sandbox.py), and no candidate sees another's.
        CUDA_CACHE_PATH=str(workdir / "nv_cache"),
        PYTORCH_KERNEL_CACHE_PATH=str(workdir / "torch_kernels"),
        CUPY_CACHE_DIR=str(workdir / "cupy_cache"),  # CuPy's default, ~/.cupy/kernel_cache, is outside
        # A forked worker keeps its zygote's hash secret (fixed at interpreter start); this is
        # what a new interpreter uses.
        PYTHONHASHSEED=str(int.from_bytes(os.urandom(4), "little")),
    )


def worker_python_path(env: dict[str, str]) -> str:
    """A worker's import path: kernelswarm's own folder and `env`'s (the allow-listed) PYTHONPATH,
    never this process's sys.path (see contain.code_paths: every folder on it is in the root of a
    contained worker)."""
    return os.pathsep.join(p for p in [_package_root(), env.get("PYTHONPATH", "")] if p)


def _package_root() -> str:
    return str(Path(__file__).resolve().parents[3])
