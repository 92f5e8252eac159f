"""The saved folder of an optimized model, and `kernelswarm.load`, which applies it to a fresh
instance of the same model class without any search or evaluation.

DIR/manifest.json  model class, device, versions, figures, per task: hash, paths, fingerprint,
                   shapes, dtypes, winner
DIR/assembled.py   the assembled candidate as judged (model code, runtime, winners)
DIR/winners/<task>.py, DIR/tasks/<task>.py   each winner's and each task's source
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kernelswarm.optimize.result import OptimizedModel

FORMAT = 1


class LoadError(ValueError):
    """The folder cannot be applied to this model; one line."""


def manifest(opt: "OptimizedModel") -> dict[str, Any]:
    e2e = opt.end_to_end
    winners = {w.task: w for w in opt.winners}
    return {
        "format": FORMAT,
        "model_class": opt.model_class,
        "model_module": opt.model_module,
        "device": opt.device,
        "device_name": opt.versions.get("device_name", ""),
        "versions": opt.versions,
        "mode": opt.mode,
        "supports": ("training and inference: winners verified forward and backward, run under autograd on the model's "
                     "own parameters; calls that differ from the verified ones run the original regions"
                     if opt.mode == "train" else
                     "inference only: calls that need gradients, or differ from the verified ones, run the original regions"),
        "steps": asdict(e2e.steps) if e2e.steps is not None else None,
        "choice": opt.choice,
        "correct": opt.correct,
        "figures": {"eager_ms": e2e.eager_ms, "compile_ms": e2e.compile_ms, "assembled_ms": e2e.assembled_ms,
                    "compiled_assembled_ms": e2e.compiled_assembled_ms, "result_ms": e2e.result_ms,
                    "speedup_vs_eager": opt.speedup_vs_eager, "speedup_vs_compile": opt.speedup_vs_compile,
                    "speedup_ci": e2e.speedup_ci, "speedup_vs_compile_ci": e2e.speedup_vs_compile_ci,
                    "reason": e2e.reason, "min_gain": e2e.min_gain,
                    "covered_share": opt.covered_share, "ceiling": opt.ceiling, "seconds": opt.seconds},
        "tasks": [{
            "name": t.name, "hash": t.hash, "class": t.class_name, "paths": t.paths, "count": t.count,
            "share": t.share, "fingerprint": t.fingerprint,
            "inputs": t.plan.get("specs"), "outputs": t.plan.get("out_specs"),
            "winner": (asdict(winners[t.name]) | {"source": f"winners/{t.name}.py"}) if t.name in winners else None,
        } for t in opt.task_list],
        "refused": [{"path": p, "reason": r} for p, r in opt.refused],
    }


def save(opt: "OptimizedModel", folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "winners").mkdir(exist_ok=True)
    (folder / "tasks").mkdir(exist_ok=True)
    for t in opt.task_list:
        (folder / "tasks" / f"{t.name}.py").write_text(t.source)
    for w in opt.winners:
        (folder / "winners" / f"{w.task}.py").write_text(w.source)
    if opt.assembled is not None:
        (folder / "assembled.py").write_text(opt.assembled)
    (folder / "manifest.json").write_text(json.dumps(manifest(opt), indent=2, default=str) + "\n")
    return folder


def load(model: Any, folder: str | Path) -> Any:
    """`model` (a fresh instance of the optimized class) with the saved winners swapped in, in place;
    compiled when torch.compile was part of the measured result. A task whose code has changed is
    skipped with a warning naming it; another GPU or PyTorch warns that figures were measured elsewhere."""
    import torch

    from kernelswarm.optimize.assemble import apply_to
    from kernelswarm.optimize.tasks import fingerprint

    folder = Path(folder)
    try:
        m = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError) as e:
        raise LoadError(f"{folder}: not an optimized-model folder ({type(e).__name__})") from None
    cls = type(model).__qualname__
    if cls != m["model_class"]:
        raise LoadError(f"{folder} was optimized for {m['model_class']}, not {cls}")
    _warn_machine(m)
    _warn_device(model, m["device"])
    source_path = folder / "assembled.py"
    if m["choice"] in ("eager", "compile") or not source_path.is_file():
        return torch.compile(model) if m["choice"] == "compile" else model
    source = source_path.read_text()
    keep = []
    for t in m["tasks"]:
        if not t["winner"]:
            continue
        changed = [p for p in t["paths"] if _fingerprint_at(model, p, fingerprint) != t["fingerprint"]]
        if changed:
            warnings.warn(f"kernelswarm.load: task {t['name']} skipped: its code at {changed[0]} has changed since it was optimized",
                          stacklevel=2)
        else:
            keep.append(t["name"])
    source = _only(source, keep)
    apply_to(model, source)
    return torch.compile(model) if m["choice"] == "compile(assembled)" else model


def _fingerprint_at(model: Any, path: str, fingerprint: Any) -> str:
    try:
        return fingerprint(model.get_submodule(path) if path else model)
    except Exception:  # the path is gone
        return ""


def _only(source: str, keep: list[str]) -> str:
    """The assembled source with only the kept tasks' plans applied."""
    return source.replace("def ks_assemble(model):", f"_KS_KEEP = {keep!r}\n\n\ndef ks_assemble(model):", 1).replace(
        "    return ks_apply(model, _KS_PLANS, _KS_WINNERS)",
        "    return ks_apply(model, [p for p in _KS_PLANS if p['task'] in _KS_KEEP], _KS_WINNERS)", 1)


def _warn_device(model: Any, device: str) -> None:
    """Winners run only for calls on the device they were verified on: a folder optimized on a GPU
    loaded where there is none, or onto a model left on another device, would silently run the
    original model everywhere."""
    from kernelswarm.backends import available

    if device != "cpu" and not available(device):
        warnings.warn(f"kernelswarm.load: optimized on {device}, which this machine does not have: the winners "
                      "run only for calls on it, so the original model runs", stacklevel=3)
        return
    here = next((t.device.type for t in model.parameters()), None)
    if here is not None and here != device:
        warnings.warn(f"kernelswarm.load: optimized on {device}, but the model's parameters are on {here}: the "
                      f"winners run only for calls on {device} (move the model there first)", stacklevel=3)


def _warn_machine(m: dict[str, Any]) -> None:
    import torch

    from kernelswarm.machine import identity

    here = identity(m["device"]) if m["device"] in ("cpu", "cuda") else {}
    diffs = []
    if m["versions"].get("torch") and m["versions"]["torch"] != torch.__version__:
        diffs.append(f"PyTorch {m['versions']['torch']} there, {torch.__version__} here")
    if m["device"] == "cuda" and m.get("device_name") and here.get("device_name") and m["device_name"] != here["device_name"]:
        diffs.append(f"{m['device_name']} there, {here['device_name']} here")
    if diffs:
        warnings.warn(f"kernelswarm.load: the speedups were measured elsewhere ({'; '.join(diffs)})", stacklevel=3)
