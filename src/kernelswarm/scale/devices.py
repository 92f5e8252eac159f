"""`--devices`: which GPUs of this host a run uses, as records, and the rule that one run times on
one GPU model only (a speedup divides a baseline and a candidate; every problem's pair is timed on
one GPU, but the run's summary averages over problems, so all its GPUs must be alike).

GPUs are named as CUDA names them in this process (`cuda:N`, after CUDA_VISIBLE_DEVICES), and
found with nvidia-smi, so that the parent process never creates a CUDA context.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass


class DeviceError(ValueError):
    """A --devices value this host cannot serve; the message is one line."""


@dataclass(frozen=True)
class Gpu:
    index: int  # as this process names it: cuda:<index>
    name: str  # the model, e.g. "NVIDIA H200"
    visible: str  # its CUDA_VISIBLE_DEVICES entry for a worker process (physical index or UUID)

    @property
    def label(self) -> str:
        return f"cuda:{self.index}"

    @property
    def physical_index(self) -> int:
        """The host's own number for it (nvidia-smi's), which is what a report names."""
        return int(self.visible) if self.visible.isdigit() else self.index


def host_gpus() -> list[Gpu]:
    """The GPUs this process may use, in CUDA's order (CUDA_VISIBLE_DEVICES applied)."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index,uuid,name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if out.returncode != 0:
        return []
    lines = [line for line in out.stdout.strip().splitlines() if line.count(",") >= 2]
    rows = [tuple(x.strip() for x in line.split(",", 2)) for line in lines]
    return visible_gpus(rows, os.environ.get("CUDA_VISIBLE_DEVICES"))


def visible_gpus(rows: list[tuple[str, ...]], visible: str | None) -> list[Gpu]:
    """(index, uuid, name) rows of nvidia-smi, seen through a CUDA_VISIBLE_DEVICES value. As in
    CUDA, an entry that matches no GPU ends the list."""
    if visible is None:
        return [Gpu(i, name, idx) for i, (idx, _, name) in enumerate(rows)]
    out: list[Gpu] = []
    for entry in (e.strip() for e in visible.split(",")):
        match = next((r for r in rows if entry and (entry == r[0] or r[1].startswith(entry))), None)
        if match is None:
            break
        out.append(Gpu(len(out), match[2], match[0]))
    return out


def resolve_devices(spec: str, gpus: list[Gpu] | None = None) -> list[Gpu]:
    """The GPUs a --devices value names: 'all', or a comma list of cuda:N (N as this process
    counts them) among `gpus` (default: this host's). Raises DeviceError for an unknown or
    repeated GPU, or GPUs of different models."""
    text = spec.strip()
    names = None if text == "all" else [p.strip() for p in text.split(",")]
    for part in names or []:  # the names first: `--devices cpu,cpu` is a question about CPUs
        if not re.fullmatch(r"cuda:\d+", part):
            hint = ("; on CPUs, --jobs N runs evaluations side by side and --ray local gives one evaluator "
                    "per CPU slot") if part.startswith("cpu") else ""
            raise DeviceError(f"--devices: {part!r} is not a GPU name; use cuda:N (e.g. cuda:0,cuda:1) or all{hint}")
    present = host_gpus() if gpus is None else gpus
    if not present:
        raise DeviceError("--devices: no GPU is visible on this machine (nvidia-smi lists none)")
    if names is None:
        chosen = list(present)
    else:
        chosen = []
        for part in names:
            i = int(part.removeprefix("cuda:"))
            if i >= len(present):
                raise DeviceError(f"--devices: cuda:{i} does not exist here ({len(present)} GPU(s) visible: "
                                  f"cuda:0..cuda:{len(present) - 1})")
            if present[i] in chosen:
                raise DeviceError(f"--devices: cuda:{i} is named twice")
            chosen.append(present[i])
    models = sorted({g.name for g in chosen})
    if len(models) > 1:
        which = ", ".join(f"{g.label} {g.name}" for g in chosen)
        raise DeviceError(f"--devices: one run times on one GPU model, these differ ({which}); "
                          "name GPUs of one model, or run each model into its own --db")
    return chosen
