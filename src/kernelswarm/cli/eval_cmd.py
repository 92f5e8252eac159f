"""`kernelswarm eval PROBLEM CANDIDATE`: judge one candidate."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from kernelswarm.cli.common import check_evaluator_env, console, die, err_console


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)


def eval_command(
    problem: Path = typer.Argument(..., help="The reference problem file (KernelBench format)."),
    candidate: Path = typer.Argument(..., help="The candidate file defining ModelNew."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu or cuda (default: the best present)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    timeout: float = typer.Option(300.0, "--timeout", help="Seconds for the whole evaluation."),
    strict: bool = typer.Option(False, "--strict", help="Accept only candidates whose own kernels did the work."),
    precision: str = typer.Option("fp32", "--precision", help="fp32 (default), tf32, bf16 or fp16."),
    baseline_compile: bool = typer.Option(False, "--baseline-compile", help="Also time torch.compile of the reference, alternately with eager."),
    mode: Optional[str] = typer.Option(None, "--mode", help="train: forward plus backward, gradients checked (default: the problem's KERNELSWARM_MODE, else inference)."),
    min_speedup: Optional[float] = typer.Option(
        None, "--min-speedup", help="Exit 0 only when accepted and the speedup interval's low end is at least this (a CI gate)."),
) -> None:
    """Evaluate one candidate: correctness against float64, timing, trust checks."""
    from kernelswarm.problems.load import ProblemError, load_problem
    from kernelswarm.records import Mode, Precision

    if precision not in {p.value for p in Precision}:
        die(f"unknown precision {precision!r}: choose fp32, tf32, bf16 or fp16")
    if timeout <= 0:
        die("--timeout must be positive")
    if mode is not None and mode not in ("train", "inference"):
        die(f"unknown mode {mode!r}: choose train or inference")
    if min_speedup is not None and not min_speedup > 0:
        die("--min-speedup must be positive")
    check_evaluator_env()
    try:
        prob = load_problem(problem)
    except ProblemError as e:
        die(str(e))
    try:
        source = candidate.read_text()
    except FileNotFoundError:
        die(f"{candidate}: no such file")
    except (OSError, UnicodeDecodeError) as e:
        die(f"{candidate}: cannot read ({e.__class__.__name__})")
    from kernelswarm.backends import DEVICES, available, best_device
    from kernelswarm.evaluate import EvalOptions, evaluate

    dev = device or best_device()
    if dev not in DEVICES or dev == "mps":
        die(f"unsupported device {dev!r}: choose cpu or cuda")
    if not available(dev):
        die(f"device {dev!r} is not available on this machine")
    options = EvalOptions.for_device(dev, timeout_s=timeout, strict=strict, precision=Precision(precision),
                                     baseline_compile=baseline_compile, mode=Mode(mode) if mode else None)
    from kernelswarm.locks import device_lock
    from kernelswarm.problems.screened import problem_flags

    def waiting(holder: str) -> None:
        err_console.print(f"kernelswarm: waiting for {dev}: {holder} is using it", markup=False, soft_wrap=True)

    try:
        with device_lock(dev).hold(on_wait=waiting) as waited:  # one kernelswarm judging on a device at a time
            # Screened as `problems check` does (cached by the problem's hash), before the evaluation so
            # that screening never runs beside its timing: a speedup on a degenerate problem is noise.
            flags = problem_flags(prob, dev).flags
            ev = evaluate(prob, source, options)
    except ProblemError as e:
        die(str(e))
    except OSError as e:  # the device lock's folder cannot be made
        die(str(e))
    ev.problem_flags = flags
    ev.waited_for(waited.seconds, waited.holder)
    if as_json:
        sys.stdout.write(json.dumps(ev.to_dict()) + "\n")
    else:
        _print_summary(ev)
    raise typer.Exit(0 if passes(ev, min_speedup) else 1)


def passes(ev, min_speedup: float | None) -> bool:
    """Accepted, and with --min-speedup, its interval's low end at least that."""
    if not ev.correct:
        return False
    return min_speedup is None or (ev.speedup_ci is not None and ev.speedup_ci[0] >= min_speedup)


def _ci(ci: tuple[float, float] | None) -> str:
    return f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else ""


def _print_summary(ev) -> None:
    from rich.markup import escape
    from rich.table import Table

    color = "green" if ev.correct else "red"
    what = " (training: forward + backward)" if ev.mode.value == "train" else ""
    console.print(f"[bold]{ev.problem}[/] on {ev.device}{what}: [{color}]{ev.verdict.value}[/] — {escape(ev.reason)}", highlight=False)
    table = Table(show_header=True, header_style="bold")
    table.add_column("check")
    table.add_column("")
    table.add_column("detail", overflow="fold")
    for c in ev.checks:
        # The details carry what a candidate wrote (its error, its range names): text, not markup.
        table.add_row(escape(c.name), "[green]pass[/]" if c.passed else "[red]FAIL[/]", escape(c.detail))
    console.print(table)
    if ev.reference:
        console.print(f"reference (eager): {ev.reference.median_ms:.4g} ms median, spread {ev.reference.spread:.1%}, {ev.reference.n} calls")
    if ev.compiled:
        console.print(f"torch.compile:     {ev.compiled.median_ms:.4g} ms median")
    if ev.candidate:
        console.print(f"candidate:         {ev.candidate.median_ms:.4g} ms median, spread {ev.candidate.spread:.1%}, {ev.candidate.n} calls")
    if ev.speedup:
        extra = f", {ev.speedup_vs_compile:.2f}x{_ci(ev.speedup_vs_compile_ci)} vs torch.compile" if ev.speedup_vs_compile else ""
        console.print(f"[bold]speedup {ev.speedup:.2f}x{_ci(ev.speedup_ci)} vs eager{extra}[/] ({ev.kind.value})")
        if ev.speedup_ci and ev.speedup_ci[0] < 1.0 < ev.speedup_ci[1]:
            console.print("[dim]the interval contains 1: no speedup beyond the noise of this machine[/]")
    for flag in ev.problem_flags:
        console.print(f"[yellow]problem flagged:[/] {escape(flag)}", highlight=False)
    if ev.problem_flags:
        console.print("[yellow]a speedup on a flagged problem does not show a faster kernel "
                      "(`kernelswarm problems check` explains)[/]")
    if ev.log_tail and not ev.correct:
        console.print("[dim]candidate output (tail):[/]")
        console.print(ev.log_tail, markup=False, highlight=False)
    dev = ev.versions.get("device_name", "")
    console.print(f"[dim]{dev} torch {ev.versions.get('torch', '?')} triton {ev.versions.get('triton', '-')} "
                  f"driver {ev.versions.get('driver', '-')}; evaluation took {ev.wall_s:.1f} s[/]")
