"""Cut a captured model into tasks: regions that compute the same thing (same code, same call,
weights aside) are one task with a count; each task is an ordinary KernelBench-format problem.

Every task is checked before it is offered: its problem file, executed here, rebuilds the region,
which with the model's own weights must reproduce the captured outputs on the captured inputs.
"""

from __future__ import annotations

import copy
import functools
import inspect
import os
import re
import types
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from kernelswarm.optimize.capture import Capture, Region
from kernelswarm.optimize.codegen import (
    DRAW_HELPER,
    CodegenError,
    Stats,
    builder,
    input_code,
    module_stats,
    short_hash,
)
from kernelswarm.problems.load import problem_hash

_SAME = Stats(0.0, 1.0, False)  # stats used only to compare instances' code, weights aside


@dataclass
class Task:
    """One region of the model (or several identical ones) as a problem."""

    name: str
    hash: str  # the problem's content hash
    source: str  # the problem file
    paths: list[str]  # where it sits in the model (every instance)
    count: int  # calls per forward of the model, over every instance
    ms: float  # measured time per model forward, every instance together
    share: float  # of the model's time
    class_name: str
    fingerprint: str  # the region's code and structure, weights aside (for load)
    plan: dict[str, Any] = field(default_factory=dict)  # the verified call, for the runtime


@dataclass
class Cut:
    """The tasks of a model, and the regions left as they are, with the reason."""

    tasks: list[Task]
    refused: list[tuple[str, str]]  # (path, reason)
    model_ms: float

    @property
    def covered_share(self) -> float:
        return min(1.0, sum(t.share for t in self.tasks))


def _class_source(cls: type) -> str:
    """A class's source, '' where it has none; read once per class and version of its file
    (ResNet-50's 30 tasks read their classes' files 120 times: seconds of a cut)."""
    try:
        mtime = os.stat(inspect.getsourcefile(cls) or "").st_mtime_ns
    except (OSError, TypeError):
        mtime = None
    return _source_at(cls, mtime)


@functools.lru_cache(maxsize=256)
def _source_at(cls: type, mtime: int | None) -> str:
    try:
        return inspect.getsource(cls)
    except (OSError, TypeError):
        return ""


def fingerprint(m: nn.Module) -> str:
    """The code and structure of a module, its weights aside: class sources, attributes, shapes."""
    parts = []
    for name, sub in m.named_modules():
        cls = type(sub)
        src = _class_source(cls)
        attrs = {k: repr(v) for k, v in vars(sub).items() if not k.startswith("_") and not isinstance(v, (torch.Tensor, nn.Module))}
        # The class by its source where it has one, not by the module it was imported as: MODEL.py
        # run by `kernelswarm optimize` and the same file imported by the user's code (`import
        # mymodel`) are one class, and `load` must find its tasks unchanged.
        where = "" if src else f"{cls.__module__}."
        parts.append(f"{name}|{where}{cls.__qualname__}|{short_hash(src)}|{sorted(attrs.items())}")
    parts += [f"{k}:{tuple(v.shape)}:{v.dtype}" for k, v in m.state_dict().items()]
    return short_hash("\n".join(parts))


def _spec(t: torch.Tensor) -> tuple[list[int], str]:
    return (list(t.shape), str(t.dtype))


def _group_key(r: Region) -> str:
    call = r.call
    shapes = [(k, tuple(v.shape), str(v.dtype)) for k, v in r.module.state_dict().items()]
    return repr((type(r.module).__module__, type(r.module).__qualname__, shapes, call.inputs, call.outputs,
                 [_spec(t) for t in call.tensors], call.training))


def _code_without_weights(m: nn.Module) -> str | None:
    stats = {k: _SAME for k, _ in list(m.named_parameters(remove_duplicate=False)) + list(m.named_buffers(remove_duplicate=False))}
    try:
        return builder(m, stats)[0]
    except CodegenError:
        return None


def _outputs_match(got: list[torch.Tensor], want: list[torch.Tensor]) -> str:
    if len(got) != len(want):
        return f"{len(got)} outputs instead of {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        if g.shape != w.shape or g.dtype != w.dtype:
            return f"output {i} is {tuple(g.shape)} {g.dtype}, captured {tuple(w.shape)} {w.dtype}"
        if g.is_floating_point():
            if not torch.allclose(g.double(), w.double(), rtol=1e-4, atol=1e-5, equal_nan=True):
                return f"output {i} differs by up to {float((g.double() - w.double()).abs().max()):.3g}"
        elif not torch.equal(g, w):
            return f"output {i} differs"
    return ""


def _run(module: nn.Module, r: Region) -> list[torch.Tensor]:
    from kernelswarm.optimize.runtime import ks_build, ks_structure

    args, kwargs = ks_build(r.call.inputs, [t.clone() for t in r.call.tensors])
    with torch.no_grad():
        out = module(*args, **kwargs)
    tensors: list[torch.Tensor] = []
    ks_structure(out, tensors)
    return tensors


def _copy_weights(src: nn.Module, dst: nn.Module) -> None:
    with torch.no_grad():
        d = dict(dst.named_parameters(remove_duplicate=False)) | dict(dst.named_buffers(remove_duplicate=False))
        for k, v in list(src.named_parameters(remove_duplicate=False)) + list(src.named_buffers(remove_duplicate=False)):
            if k in d and d[k] is not None and v is not None:
                d[k].copy_(v)


def _same_function(a: Region, b: Region) -> bool:
    """Whether a's module with b's weights computes b's captured outputs from b's inputs."""
    try:
        twin = copy.deepcopy(a.module)
        _copy_weights(b.module, twin)
        return not _outputs_match(_run(twin, b), b.call.out_tensors)
    except Exception:
        return False


def group_regions(regions: list[Region]) -> list[list[Region]]:
    """Regions that compute the same thing, weights aside."""
    groups: list[list[Region]] = []
    by_key: dict[str, list[list[Region]]] = {}
    codes: dict[int, str | None] = {}  # each module's code written once, not once per comparison

    def code_of(m: nn.Module) -> str | None:
        if id(m) not in codes:
            codes[id(m)] = _code_without_weights(m)
        return codes[id(m)]

    for r in regions:
        key = _group_key(r)
        for g in by_key.get(key, []):
            code = code_of(r.module)
            if (code is not None and code == code_of(g[0].module)) or _same_function(g[0], r):
                g.append(r)
                break
        else:
            by_key.setdefault(key, []).append([r])
            groups.append(by_key[key][-1])
    return groups


def _ident(text: str) -> str:
    s = re.sub(r"\W+", "_", text).strip("_")
    return ("x_" + s) if not s or s[0].isdigit() else s


def task_name(path: str, model_class: str, taken: set[str]) -> str:
    parts = [p for p in path.split(".") if not p.isdigit()] if path else [model_class.lower()]
    base = _ident("_".join(parts[-2:]))
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


def build_task(name: str, group: list[Region], model_class: str, device: str, train: bool = False) -> Task:
    rep = group[0]
    stats = module_stats([r.module for r in group])
    build_src, imports = builder(rep.module, stats)
    source = problem_source(name, group, model_class, build_src, imports, train)
    call = rep.call
    plan = {"task": name, "inputs": call.inputs, "specs": [_spec(t) for t in call.tensors], "outputs": call.outputs,
            "out_specs": [_spec(t) for t in call.out_tensors], "training": call.training, "device": device,
            "init_inputs": [], "train": train}
    return Task(name=name, hash=problem_hash(source), source=source, paths=[r.path for r in group],
                count=sum(r.calls for r in group), ms=sum(r.ms for r in group), share=sum(r.share for r in group),
                class_name=rep.class_name, fingerprint=fingerprint(rep.module), plan=plan)


def check_task(task: Task, rep: Region) -> str:
    """'' when the task's own file rebuilds the region faithfully, else why not."""
    module = types.ModuleType(f"kernelswarm_task_{task.name}")
    try:
        exec(compile(task.source, f"<task {task.name}>", "exec"), module.__dict__)
        rebuilt = module.Model()
        region = rebuilt.region
        _copy_weights(rep.module, region)
        device = rep.call.tensors[0].device if rep.call.tensors else torch.device("cpu")
        region.to(device)
        why = _outputs_match(_run(region, rep), rep.call.out_tensors)
    except Exception as e:
        text = str(e).strip().splitlines()
        return f"its rebuilt code fails: {type(e).__name__}: {text[0] if text else ''}"[:300]
    return f"its rebuilt code computes something else ({why})" if why else ""


def cut(cap: Capture) -> Cut:
    """Tasks hottest first, and the regions that could not become tasks, with the reason."""
    refused = [(r.path or cap.model_class, r.refused) for r in cap.regions if r.refused]
    usable = [r for r in cap.regions if not r.refused and r.call is not None and r.call.tensors]
    refused += [(r.path or cap.model_class, "takes no tensor input") for r in cap.regions
                if not r.refused and r.call is not None and not r.call.tensors]
    tasks: list[Task] = []
    taken: set[str] = set()
    for group in sorted(group_regions(usable), key=lambda g: -sum(r.share for r in g)):
        name = task_name(group[0].path, cap.model_class, taken)
        try:
            task = build_task(name, group, cap.model_class, cap.device, cap.train)
        except CodegenError as e:
            refused += [(r.path, f"cannot be written as code: {e}") for r in group]
            continue
        why = check_task(task, group[0])
        if why:
            refused += [(r.path, why) for r in group]
            continue
        same = next((t for t in tasks if t.hash == task.hash), None)
        if same is not None:  # different regions, identical problems: one task
            same.paths += task.paths
            same.count += task.count
            same.ms += task.ms
            same.share += task.share
            continue
        tasks.append(task)
    tasks.sort(key=lambda t: -t.share)  # as the summary shows them: ms and share are separate medians
    return Cut(tasks, refused, cap.model_ms)


# ---- the problem file ----

def _original_source(m: nn.Module) -> str:
    seen, out = set(), []
    for sub in m.modules():
        cls = type(sub)
        if cls in seen or cls.__module__.startswith("torch.nn"):
            continue
        seen.add(cls)
        try:
            src = inspect.getsource(cls)
            where = inspect.getsourcefile(cls) or cls.__module__
        except (OSError, TypeError):
            continue
        lines = src.splitlines()
        if len(lines) > 150:
            lines = lines[:150] + ["... (cut)"]
        out.append(f"From {cls.__module__} ({where.split('site-packages/')[-1]}):\n" + "\n".join(lines))
    return "\n\n".join(out)


def _names(structure: tuple, prefix: str, names: list[str]) -> None:
    tag, body = structure
    if tag == "T":
        names.append(_ident(prefix) or f"x{len(names)}")
    elif tag in ("tuple", "list"):
        for i, v in enumerate(body):
            _names(v, f"{prefix}_{i}" if prefix else f"x{i}", names)
    elif tag == "dict":
        for k, v in body:
            _names(v, f"{prefix}_{k}" if prefix else str(k), names)


def _expr(structure: tuple, names: list[str]) -> str:
    tag, body = structure
    if tag == "T":
        return names[body]
    if tag == "C":
        return repr(body) if not isinstance(body, torch.dtype) else str(body)
    if tag == "dict":
        return "{" + ", ".join(f"{k!r}: {_expr(v, names)}" for k, v in body) + "}"
    inner = ", ".join(_expr(v, names) for v in body)
    return f"({inner},)" if tag == "tuple" and len(body) == 1 else (f"({inner})" if tag == "tuple" else f"[{inner}]")


def _call_expr(inputs: tuple, names: list[str]) -> str:
    (_, args), (_, kwargs) = inputs[1]
    parts = [_expr(a, names) for a in args]
    parts += [f"{k}={_expr(v, names)}" if str(k).isidentifier() else f"**{{{k!r}: {_expr(v, names)}}}" for k, v in kwargs]
    return ", ".join(parts)


def _out_paths(structure: tuple, at: str, out: list[str]) -> None:
    tag, body = structure
    if tag == "T":
        out.append(at)
    elif tag in ("tuple", "list"):
        for i, v in enumerate(body):
            _out_paths(v, f"{at}[{i}]", out)
    elif tag == "dict":
        for k, v in body:
            _out_paths(v, f"{at}[{k!r}]", out)


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        if n in seen or n in ("self", "torch", "nn"):
            seen[n] = seen.get(n, 0) + 1
            n = f"{n}_{seen[n]}"
        seen.setdefault(n, 0)
        out.append(n)
    return out


def problem_source(name: str, group: list[Region], model_class: str, build_src: str, imports: set[str],
                   train: bool = False) -> str:
    """The region's problem file; `train`: in training mode (KERNELSWARM_MODE), its inputs that
    needed gradients in the model asking for them again, so that their gradients are checked."""
    rep = group[0]
    call = rep.call
    names: list[str] = []
    (_, args), (_, kwargs) = call.inputs[1]
    for i, a in enumerate(args):
        _names(a, f"x{i}", names)
    for k, v in kwargs:
        _names(v, str(k), names)
    names = _unique(names)
    outs: list[str] = []
    _out_paths(call.outputs, "out", outs)
    ret = outs[0] if len(outs) == 1 else "(" + ", ".join(outs) + ")"
    where = ", ".join(r.path for r in group[:6]) + (", ..." if len(group) > 6 else "")
    comment = "\n".join("# " + line if line else "#" for line in _original_source(rep.module).splitlines())
    params = "\n".join(f"#   region.{k}: {list(v.shape)} {v.dtype}" for k, v in rep.module.state_dict().items())
    grads = call.grads if train and call.grads else [False] * len(call.tensors)
    inputs = "\n".join(f"        {input_code(t)}{'.requires_grad_()' if g else ''},  # {n}"
                        for n, t, g in zip(names, call.tensors, grads))
    mode = ('\n# Training mode: one call is forward plus backward; outputs and every gradient are compared.\n'
            'KERNELSWARM_MODE = "train"\n') if train else ""
    return f'''"""kernelswarm task `{name}` of {model_class}: `{rep.class_name}` at {where}.

A region of a whole model, cut out as a problem. `Model.region` is rebuilt from code with weights
drawn under the current seed (statistics of the model's own); `get_inputs` reproduces the captured
inputs. The region's original source is in the comments below.
"""

import torch
import torch.nn as nn
{chr(10).join(sorted(imports))}
{mode}
# The original module (what `Model.region` is an instance of):
{comment or "# (source not available)"}
#
# Weights, as ModelNew receives them (same names):
{params or "#   (none)"}
{DRAW_HELPER}

{build_src}

class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.region = _build_region()

    def forward(self, {", ".join(names)}):
        out = self.region({_call_expr(call.inputs, names)})
        return {ret}


def get_inputs():
    return [
{inputs}
    ]


def get_init_inputs():
    return []
'''
