"""The whole model's baselines kept beside the store, so that a stopped `optimize` resumed with
--resume does not time eager and torch.compile of the whole model again (minutes on a CPU:
346 s for a tiny GPT-2 in training mode on a loaded 2-core box). Only a resumed run reads them,
and only when everything they depend on is the same: the whole-model problem's hash, the store,
device, precision, mode, whether torch.compile was timed, and this host's versions. A fresh run
always times them anew (the machine may have changed since)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from kernelswarm.records import Timing

__all__ = ["key", "read", "resumable_baselines", "write"]


def key(problem_hash: str, db: str, device: str, precision: str, mode: str, compile_baseline: bool) -> dict[str, Any]:
    from kernelswarm.runconfig import host_versions

    return {"problem": problem_hash, "db": str(Path(db).resolve()), "device": device, "precision": precision,
            "mode": mode, "compile": compile_baseline, "versions": host_versions(device)}


def read(path: Path, want: dict[str, Any]) -> tuple[Timing, Timing | None] | None:
    """The stored (eager, torch.compile) timings when stored under the same key, else None."""
    try:
        d = json.loads(path.read_text())
        if d.get("key") != json.loads(json.dumps(want)):
            return None
        eager = Timing.from_dict(d["eager"])
        return (eager, Timing.from_dict(d.get("compiled"))) if eager is not None else None
    except (OSError, ValueError, KeyError, TypeError):
        return None  # none stored, or unreadable: time them


def write(path: Path, k: dict[str, Any], eager: Timing, compiled: Timing | None) -> None:
    """Written whole or not at all (a kill while writing leaves the old file or none)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"key": k, "eager": eager.__dict__, "compiled": compiled.__dict__ if compiled else None},
                              default=list))
    tmp.replace(path)


def resumable_baselines(user: Any, s: Any, cache: Path) -> Any:
    """optimize's whole-model baselines (`user`: the whole-model Problem, `s`: its Settings): a
    resumed run reuses the ones its stopped run measured, any other run times them."""
    from kernelswarm.optimize import verify

    train = s.mode == "train"
    k = key(user.hash, s.db, s.device, s.precision, s.mode, s.compile_baselines)
    stored = read(cache, k) if s.resume else None
    if stored is not None:
        base = verify.baselines_from(*stored, s.min_gain, s.mode)
        base.notes.append("the whole model's eager and torch.compile times are the stopped run's (resumed)")
        if s.compile_baselines and stored[1] is None:
            base.compile_missing = "not measured by the stopped run"
        return base
    base = verify.whole_baselines(user, s.device, s.timeout or 600.0, s.precision, s.compile_baselines,
                                  s.min_gain, train, compile_limit_s=getattr(s, "compile_limit", None))
    if base.timings is not None and base.timings[0] is not None:
        write(cache, k, *base.timings)
    return base
