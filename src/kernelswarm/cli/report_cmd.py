"""`kernelswarm report` (the HTML report of a run) and `kernelswarm profile` (where the time goes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from kernelswarm.cli.common import console, die

DEFAULT_DB = Path("kernelswarm.db")
DEFAULT_OUT = Path("kernelswarm-report")


def report(
    db: list[Path] = typer.Option([DEFAULT_DB], "--db", help="Store to read; give several (shards of one sweep) to report them as one run."),
    run: Optional[int] = typer.Option(None, "--run", help="Run id (default: the latest run; one store only)."),
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="Folder to write index.html into."),
    as_json: bool = typer.Option(False, "--json", help="Also write the figures and tables as DIR/report.json."),
) -> None:
    """Write DIR/index.html: one self-contained page with the run's figures and tables; print them."""
    from kernelswarm.report import MergeError, merge_reports, to_json, write_report

    if run is not None and len(db) > 1:
        die("--run names a run of one store; with several --db, each store's latest run is reported")
    parts = [_report_data(path, run) for path in db]
    try:
        data = merge_reports(parts, [f"{path} run {d.run_id}" for path, d in zip(db, parts)])
    except MergeError as e:
        die(str(e))
    from kernelswarm.cli.summary import print_summary

    print_summary(data)  # the same figures as the page, and per problem why its result stands
    path = write_report(data, out)
    what = f"run {data.run_id}" if data.run_id is not None else f"{len(db)} stores"
    console.print(f"report of {what} ({len(data.problems)} problems): {path}")
    if as_json:
        json_path = out / "report.json"
        json_path.write_text(to_json(data))
        console.print(f"figures as JSON: {json_path}")


def _report_data(db: Path, run: Optional[int]):
    from kernelswarm.report import report_data_from_store

    if not db.exists():
        die(f"{db}: no such database (run `kernelswarm run` first, or pass --db)")
    try:
        return report_data_from_store(db, run)
    except KeyError as e:
        die(str(e.args[0]) if e.args else f"unknown run {run}")
    except Exception as e:  # sqlite3.DatabaseError and friends: not a kernelswarm store
        die(f"{db}: cannot read the store ({e.__class__.__name__}: {str(e).splitlines()[0] if str(e) else ''})")


def profile(
    problem: Path = typer.Argument(..., help="Problem file (KernelBench format)."),
    candidate: Optional[Path] = typer.Argument(None, help="Candidate file defining ModelNew (default: the reference)."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu or cuda (default: the best present)."),
    ncu: bool = typer.Option(False, "--ncu", help="Add Nsight Compute metrics for the top kernels (needs ncu)."),
    as_json: bool = typer.Option(False, "--json", help="Print the profile as one JSON object."),
    timeout: float = typer.Option(600.0, "--timeout", help="Seconds before the profiling worker is stopped."),
) -> None:
    """Where the time goes: kernels and their share, FLOPs, minimum bytes, speed of light."""
    from kernelswarm.backends import DEVICES, available, best_device
    from kernelswarm.problems.load import ProblemError, load_problem
    from kernelswarm.profile import ProfileError, profile_problem

    try:
        prob = load_problem(problem)
    except ProblemError as e:
        die(str(e))
    source = None
    if candidate is not None:
        try:
            source = candidate.read_text()
        except (OSError, UnicodeDecodeError) as e:
            die(f"{candidate}: cannot read ({e.__class__.__name__})" if candidate.exists() else f"{candidate}: no such file")
    device = device or best_device()
    if device not in DEVICES:
        die(f"unknown device {device!r}: choose one of {', '.join(DEVICES)}")
    if not available(device):
        die(f"device {device} is not available on this machine")
    try:
        p = profile_problem(prob, device, candidate_source=source, ncu=ncu, timeout_s=timeout)
    except ProfileError as e:
        typer.echo(f"kernelswarm: profiling failed: {e}", err=True)
        raise typer.Exit(1)
    if as_json:
        typer.echo(json.dumps(p.to_dict(), default=str))
        return
    _print_profile(p)


def _print_profile(p) -> None:
    from rich.markup import escape
    from rich.table import Table

    from kernelswarm.profile import format_profile

    head = format_profile(p, top=0).splitlines()
    for line in head[:3]:
        console.print(line, markup=False, soft_wrap=True)
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("share", justify="right")
    table.add_column("ms / call", justify="right")
    table.add_column("calls", justify="right")
    table.add_column("kernel" if p.device == "cuda" else "operator", overflow="fold")
    for k in p.kernels[:15]:
        table.add_row(f"{100 * k.share:.1f}%", f"{k.ms:.4g}", str(k.calls), k.name)
    if len(p.kernels) > 15:
        table.add_row(f"{100 * sum(k.share for k in p.kernels[15:]):.1f}%", "", "", f"({len(p.kernels) - 15} more)")
    console.print(table)
    if p.ncu:
        ncu = Table(title="Nsight Compute", box=None, header_style="bold", pad_edge=False)
        for col in ("ms", "launches", "SM %", "DRAM %"):
            ncu.add_column(col, justify="right")
        ncu.add_column("kernel", overflow="fold")
        for k in p.ncu:
            ncu.add_row(f"{k.duration_ms:.4g}", str(k.launches), f"{k.sm_pct:.0f}" if k.sm_pct is not None else "?",
                        f"{k.dram_pct:.0f}" if k.dram_pct is not None else "?", k.name)
        console.print(ncu)
    elif p.ncu_note:
        console.print(f"Nsight Compute: {p.ncu_note}", markup=False, soft_wrap=True)
    v = p.versions
    line = (f"{v.get('device_name', p.device)} · driver {v.get('driver', 'n/a')} · torch {v.get('torch', 'n/a')}"
            f" · triton {v.get('triton', 'n/a')} · peaks measured {p.peaks.measured_at}")
    console.print(f"[dim]{escape(line)}[/dim]", soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("report")(report)
    app.command("profile")(profile)
