"""Helpers of the worker process that are not operations: weights, failure kinds, caches.

Standard library and torch only, like the worker.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable


def load_matching_state(ref: Any, new: Any) -> None:
    """Copy the reference's weights into ModelNew when the names match, perhaps under a prefix."""
    if not hasattr(new, "state_dict"):
        return
    ref_sd, new_sd = ref.state_dict(), new.state_dict()
    if not ref_sd or not new_sd:
        return
    if set(ref_sd) == set(new_sd):
        mapping = {k: k for k in ref_sd}
    else:
        prefixes = {nk[: len(nk) - len(rk)] for nk in new_sd for rk in ref_sd if nk.endswith(rk) and nk[: len(nk) - len(rk)].endswith(".")}
        mapping = {}
        for prefix in prefixes:
            if all(prefix + k in new_sd for k in ref_sd) and len(new_sd) == len(ref_sd):
                mapping = {k: prefix + k for k in ref_sd}
                break
    if mapping and all(ref_sd[k].shape == new_sd[v].shape for k, v in mapping.items()):
        new.load_state_dict({v: ref_sd[k] for k, v in mapping.items()})


def classify(exc: BaseException) -> str:
    """compile_error for build and kernel-compilation failures, runtime_error otherwise."""
    names = " ".join(f"{c.__module__}.{c.__qualname__}" for c in type(exc).__mro__)
    text = str(exc)
    if "CompilationError" in names or "triton.compiler" in names or "Error building extension" in text \
            or "CalledProcessError" in names or "BackendCompilerFailed" in names or isinstance(exc, SyntaxError):
        return "compile_error"
    return "runtime_error"


def cache_dir() -> Path:
    return Path(os.environ.get("KERNELSWARM_CACHE") or Path.home() / ".cache" / "kernelswarm")


def read_cache(name: str) -> dict:
    """A JSON table in the cache folder; empty when absent or unreadable."""
    try:
        return json.loads((cache_dir() / name).read_text())
    except (OSError, ValueError):
        return {}


def write_cache(name: str, key: str, value: Any) -> None:
    """Set one entry; the file is replaced atomically, so concurrent evaluations never see half of it."""
    table = read_cache(name)
    table[key] = value
    path = cache_dir() / name
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(table, indent=1))
    tmp.replace(path)


def work_cached(key: str | None) -> bool:
    """Whether cached_work has this key's count."""
    return bool(key and read_cache("work.json").get(key))


def cached_work(key: str | None, count: Callable[[], Any]) -> Any:
    """FLOPs and bytes of a problem on a device, counted once (the FLOP counter costs seconds to load)."""
    from kernelswarm import sol

    hit = read_cache("work.json").get(key) if key else None
    if hit:
        return sol.Work(**hit)
    work = count()
    if key:
        write_cache("work.json", key, dataclasses.asdict(work))
    return work


def _holds(t: Any) -> tuple[int, int]:
    import torch

    return sys.getrefcount(t), torch._C._storage_Use_Count(t.untyped_storage()._cdata)


def unshared(outputs: list[Any]) -> list[Any]:
    """`outputs`, each tensor that something else still holds (the module's own output buffer, or
    a view of it) copied: an honest module that writes every call into one buffer it keeps (as
    captured CUDA graphs and torch.compile's "reduce-overhead" do) returns outputs the next call
    overwrites, and a kept output must be the one its call returned (correct/static_output_buffer
    was judged incorrect before: its kept output held a later call's values). A fresh output is
    kept as it is (no copy, no cost). The references are counted against a fresh tensor's, held
    the same way, in the same kind of loop."""
    import torch

    probe = [torch.empty(1)]
    base = [_holds(t) for t in probe][0]
    held = [isinstance(t, torch.Tensor) and t.layout == torch.strided and _more(_holds(t), base) for t in outputs]
    return [t.clone() if h else t for t, h in zip(outputs, held)]


def _more(counts: tuple[int, int], base: tuple[int, int]) -> bool:
    return counts[0] > base[0] or counts[1] > base[1]
