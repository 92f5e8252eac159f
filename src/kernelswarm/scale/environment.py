"""What environment a Ray actor may hold: an allow-list, so that no model key (or any other
credential of the user's shell) reaches a place that runs candidates. The supervisor alone holds
keys; actors need only what finds Python, the libraries and the GPU.

What counts as a secret is redact.py's rule (`is_secret_name`, and any value that is a secret's
value under another name), the one the workers' environments and every scrubbed text use too.
"""

from __future__ import annotations

from collections.abc import Mapping

from kernelswarm import redact

# Names kept as they are; names with these prefixes too.
ALLOWED = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "LANG", "LANGUAGE", "TZ", "TMPDIR", "HOSTNAME",
    "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV", "LD_LIBRARY_PATH",
})
ALLOWED_PREFIXES = ("LC_", "CUDA_", "NVIDIA_", "CUDNN_", "NCCL_", "OMP_", "MKL_", "KMP_", "TORCH", "PYTORCH_",
                    "TRITON_", "RAY_", "KERNELSWARM_")


def allowed(name: str) -> bool:
    """Whether a variable of this name may reach an actor: allow-listed and not a secret's name."""
    if redact.is_secret_name(name):
        return False
    return name in ALLOWED or name.startswith(ALLOWED_PREFIXES)


def actor_environment(env: Mapping[str, str]) -> dict[str, str]:
    """`env` reduced to what an actor may see: allowed names, and no value that is a secret's
    (a key copied into an allowed name, e.g. KERNELSWARM_X=$OPENAI_API_KEY, stays behind)."""
    secrets = set(redact.secret_values(env))
    return {k: v for k, v in env.items() if allowed(k) and v not in secrets}
