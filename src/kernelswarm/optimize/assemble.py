"""Assemble: one self-contained candidate file for the whole model, made of the model's own code,
the runtime (optimize/runtime.py, verbatim) and each task's winner (top-level names prefixed so
that winners cannot collide). The same file is what the evaluator judges end to end and what the
user's process runs (`apply_to`), so what was verified is what runs.
"""

from __future__ import annotations

import sys
import tempfile
import types
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from torch import nn

from kernelswarm.optimize.codegen import Writer, literal, short_hash
from kernelswarm.optimize.pysource import prefixed


@dataclass(frozen=True)
class Winner:
    """A task's selected candidate."""

    task: str
    source: str
    agent: str
    candidate_ms: float
    baseline_ms: float  # the faster of the task's eager and torch.compile


def runtime_source() -> str:
    return resources.files("kernelswarm.optimize").joinpath("runtime.py").read_text()


def assembled_source(model_source: str, root: str, plans: list[dict], winners: list[Winner],
                     compiled: bool = False, train: bool = False) -> str:
    """The whole model's candidate: `model_source` (defines Model; its input builders removed)
    with the winners swapped in under `root` ("" for Model itself, "region" for Model.region).
    `train`: the tasks were verified in training mode (their gradients too)."""
    taken: dict[str, str] = {}
    supports = ("# Training and inference: winners run under autograd on the model's own parameters; a call that is "
                "not the verified one runs the original region." if train else
                "# Inference only: a call that needs gradients, or is not the verified one, runs the original region.")
    parts = [
        "# kernelswarm assembled model: the model's own code, the runtime, each task's winner.",
        supports,
        model_source.rstrip(), "", "import torch", "import torch.nn as nn", "",
        "# ---- kernelswarm runtime (optimize/runtime.py) ----", runtime_source(), "",
    ]
    lookup = []
    for i, w in enumerate(winners):
        prefix = f"_w{i}_"
        parts += [f"# ---- winner for task `{w.task}`: {w.agent}, {w.candidate_ms:.4g} ms "
                  f"(the faster baseline {w.baseline_ms:.4g} ms) ----", prefixed(w.source, prefix, taken), ""]
        lookup.append(f"    {w.task!r}: (lambda: {prefix}ModelNew),")
    wr = Writer()
    parts += ["_KS_PLANS = " + literal(plans, wr), "_KS_WINNERS = {", *lookup, "}", f"_KS_ROOT = {root!r}", "",
              "def ks_assemble(model):",
              '    """Swap the verified winners into `model` (the model itself, not Model) in place."""',
              "    return ks_apply(model, _KS_PLANS, _KS_WINNERS)", "", "",
              "class ModelNew(Model):",
              "    def __init__(self, *args, **kwargs):",
              "        super().__init__(*args, **kwargs)",
              "        ks_assemble(self.get_submodule(_KS_ROOT) if _KS_ROOT else self)"]
    if compiled:
        parts += ["        self._ks_fn = torch.compile(super().forward)", "",
                  "    def forward(self, *args, **kwargs):",
                  "        # Inductor's settings for this call only: no compile pool left running.",
                  "        with torch._inductor.config.patch(compile_threads=1):",
                  "            return self._ks_fn(*args, **kwargs)"]
    return "\n".join(parts) + "\n"


_FOLDER: list[Path] = []  # this process's folder of assembled files, made once


def _own_folder() -> Path:
    """A folder of this process's own (mkdtemp: mode 0700, a name no one can guess), removed when
    it exits. Before, a fixed /tmp/kernelswarm-assembled: another local user could make it first and
    put a link where a file was about to be written (the user's file overwritten with the source)
    or replace the file that Triton reads a kernel's source back from (their kernel compiled and
    run in the user's process): tests/optimize/test_assemble.py."""
    if not _FOLDER:
        import atexit
        import shutil

        _FOLDER.append(Path(tempfile.mkdtemp(prefix="kernelswarm-assembled-")))
        atexit.register(shutil.rmtree, _FOLDER[0], True)
    return _FOLDER[0]


def apply_to(model: nn.Module, source: str) -> list:
    """Swap the winners of an assembled file into `model` (in place); returns the runtime's
    regions. Executes the file's definitions (the model's code, the runtime, the winners)."""
    name = f"kernelswarm_assembled_{short_hash(source)}"
    module = sys.modules.get(name)
    if module is None:
        path = _own_folder() / f"{name}.py"
        path.write_text(source)  # kernels' source is read back from the file (triton)
        module = types.ModuleType(name)
        module.__file__ = str(path)
        sys.modules[name] = module  # triton looks kernels' modules up by name
        try:
            exec(compile(source, module.__file__, "exec"), module.__dict__)
        except BaseException:
            sys.modules.pop(name, None)
            raise
    return module.ks_assemble(model)
