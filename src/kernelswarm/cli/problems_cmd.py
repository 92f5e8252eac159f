"""`kernelswarm problems list|check`: what the problems cost, and whether each is a fair test.

Exit codes (both commands): 0 all good; 1 a problem is flagged, fails to run, or a file could
not be loaded (the others are still listed); 2 an argument is unusable (a bad option, a path or
glob that names nothing).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from kernelswarm.cli.common import console, die, err_console

problems_app = typer.Typer(help="List and screen problems.", no_args_is_help=True)

_ARGS_HELP = "Problem files, folders (a KernelBench checkout, levelN/*.py) or name globs over the bundled suite."


def register(app: typer.Typer) -> None:
    app.add_typer(problems_app, name="problems")


def _resolve(args: list[str], suite: str | None, level: int | None):
    """Problems, load errors, and whether any argument named nothing."""
    from kernelswarm.problems.suite import NoMatch, error_parts, resolve_problems

    if level is not None and level < 1:
        die("--level must be 1 or more")
    problems, errors = resolve_problems(args, suite=suite, level=level)
    unusable = any(isinstance(e, NoMatch) for e in errors)
    for e in errors:
        path, reason = error_parts(e)
        err_console.print(f"kernelswarm: {path}: {reason}", markup=False, highlight=False, soft_wrap=True)
    return problems, errors, unusable


def _check_device(device: str | None) -> None:
    if device is None:
        return
    from kernelswarm.backends import DEVICES, available

    if device not in DEVICES or device == "mps":
        die(f"unsupported device {device!r}: choose cpu or cuda")
    if not available(device):
        die(f"device {device!r} is not available on this machine")


def _si(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.1f}{prefix}{unit}"
    return f"{value:.0f}{unit}"


def _shapes(shapes: list[list[int]]) -> str:
    return ", ".join("x".join(map(str, s)) or "scalar" for s in shapes)


@problems_app.command("list")
def list_command(
    problems: Optional[list[str]] = typer.Argument(None, help=_ARGS_HELP),
    suite: Optional[str] = typer.Option(None, "--suite", help="A named suite: bundled (inference; the default with no arguments) or train."),
    level: Optional[int] = typer.Option(None, "--level", help="Only problems of this level."),
    device: Optional[str] = typer.Option(None, "--device", help="Run at this device's sizes and time eager (cpu, cuda)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array of objects."),
) -> None:
    """Name, level, hash, input shapes, FLOPs, minimum bytes and (with --device) eager time."""
    _check_device(device)
    found, errors, unusable = _resolve(problems or [], suite, level)
    from kernelswarm.problems.measure import measure

    rows = [(p, measure(p, device)) for p in found]
    if as_json:
        print(json.dumps([{**m.to_dict(), "path": str(p.path)} for p, m in rows], indent=1))
    else:
        from rich.table import Table
        from rich.text import Text

        sizes = f"{device} sizes" if device else "sizes as written"
        table = Table(title=f"{len(rows)} problems ({sizes})", title_justify="left")
        for col in ("name", "level", "hash", "inputs", "FLOPs", "min bytes") + (("eager ms",) if device else ()):
            table.add_column(col, justify="right" if col in ("level", "FLOPs", "min bytes", "eager ms") else "left")
        for p, m in rows:
            cells = [p.name, str(p.level or "-"), p.hash, _shapes(m.input_shapes) if not m.error else f"error: {m.error}",
                     _si(m.flops), _si(m.min_bytes, "B")]
            if device:
                cells.append(f"{m.eager.median_ms:.3f}" if m.eager else "-")
            table.add_row(*map(Text, cells))
        console.print(table)
    if unusable:
        raise typer.Exit(2)
    if errors or any(m.error for _, m in rows):
        raise typer.Exit(1)


@problems_app.command("check")
def check_command(
    problems: Optional[list[str]] = typer.Argument(None, help=_ARGS_HELP),
    suite: Optional[str] = typer.Option(None, "--suite", help="A named suite: bundled (inference; the default with no arguments) or train."),
    level: Optional[int] = typer.Option(None, "--level", help="Only problems of this level."),
    device: str = typer.Option("cpu", "--device", help="Screen at this device's sizes (cpu, cuda)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array of objects."),
    no_time: bool = typer.Option(False, "--no-time", help="Skip timing, and with it the launch-bound check."),
) -> None:
    """Flag degenerate problems: a no-op could pass them, or they are too small or too large."""
    _check_device(device)
    found, errors, unusable = _resolve(problems or [], suite, level)
    from kernelswarm.problems.screen import screen
    from kernelswarm.problems.suite import error_parts

    results = []
    for i, p in enumerate(found):
        if not as_json:
            with console.status(f"screening {p.name} ({i + 1}/{len(found)}) on {device}"):
                results.append(screen(p, device, time_it=not no_time))
        else:
            results.append(screen(p, device, time_it=not no_time))
    bad_files = []
    for e in errors:
        path, reason = error_parts(e)
        bad_files.append({"name": Path(path).stem, "path": path, "device": device, "ok": False,
                          "reasons": [reason], "eager_ms": None, "bytes": None})
    flagged = sum(not r.ok for r in results) + len(bad_files)
    if as_json:
        print(json.dumps([r.to_dict() for r in results] + bad_files, indent=1))
    else:
        from rich.table import Table
        from rich.text import Text

        table = Table(title=f"{len(results) + len(bad_files)} problems screened on {device}: {flagged} flagged",
                      title_justify="left")
        table.add_column("name")
        table.add_column("result")
        table.add_column("eager ms", justify="right")
        table.add_column("reasons")
        for r in results:
            table.add_row(Text(r.problem), Text("ok") if r.ok else Text("flagged", style="red"),
                          f"{r.eager_ms:.3f}" if r.eager_ms is not None else "-", Text("\n".join(r.reasons)))
        for b in bad_files:
            table.add_row(Text(b["path"]), Text("unusable", style="red"), "-", Text(b["reasons"][0]))
        console.print(table)
    if unusable:
        raise typer.Exit(2)
    if flagged:
        raise typer.Exit(1)
