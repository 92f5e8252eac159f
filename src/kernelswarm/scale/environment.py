"""What environment a Ray actor may hold: an allow-list, so that no model key (or any other
credential of the user's shell) reaches a place that runs candidates. The supervisor alone holds
keys; actors need only what finds Python, the libraries and the GPU.

(A minimal rule of this module's own: when the project's shared secret rule exists, this should
defer to it.)
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# Names kept as they are; names with these prefixes too.
ALLOWED = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "LANG", "LANGUAGE", "TZ", "TMPDIR", "HOSTNAME",
    "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV", "LD_LIBRARY_PATH",
})
ALLOWED_PREFIXES = ("LC_", "CUDA_", "NVIDIA_", "CUDNN_", "NCCL_", "OMP_", "MKL_", "KMP_", "TORCH", "PYTORCH_",
                    "TRITON_", "RAY_", "KERNELSWARM_")
# Whatever the name's prefix, these look like credentials and never pass.
SECRET = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH)", re.I)


def allowed(name: str) -> bool:
    """Whether a variable may reach an actor."""
    if SECRET.search(name):
        return False
    return name in ALLOWED or name.startswith(ALLOWED_PREFIXES)


def actor_environment(env: Mapping[str, str]) -> dict[str, str]:
    """`env` reduced to what an actor may see."""
    return {k: v for k, v in env.items() if allowed(k)}
