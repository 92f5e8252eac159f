"""`kernelswarm optimize MODEL.py`: a whole model in KernelBench format, cut into tasks, the swarm
on each, a verified assembled model, a folder that `kernelswarm.load` reads."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from kernelswarm.cli import scale_opts
from kernelswarm.cli.common import check_evaluator_env, console, die, err_console

if TYPE_CHECKING:
    from kernelswarm.optimize.result import OptimizedModel


def register(app: typer.Typer) -> None:
    app.command("optimize")(optimize)


def optimize(
    model_file: Path = typer.Argument(..., metavar="MODEL.py", help="A whole model in KernelBench format (Model, get_inputs, get_init_inputs)."),
    device: Optional[str] = typer.Option(None, help="cpu | cuda; default: the best device present."),
    agents: Optional[str] = typer.Option(None, help="Comma list of agent names (built-in names, 'builtin', model names)."),
    models: Optional[Path] = typer.Option(None, help="Models file (TOML) for LLM agents."),
    candidates: Optional[Path] = typer.Option(None, help="Folder of candidates: DIR/<task name>.py."),
    rounds: int = typer.Option(1, min=1, help="Rounds for the hottest task; others get rounds by their share."),
    budget: Optional[float] = typer.Option(None, min=0, help="USD for model agents, shared by the tasks by their share."),
    time_budget: Optional[str] = typer.Option(None, "--time-budget", metavar="TIME", help="Wall time for the whole run: seconds, or 15m, 2h. The whole model's torch.compile baseline gets at most 40% of it ('not measured in time' past that), the assembled model's judgement is reserved, and the tasks' search shares what is left (its evaluations end by then); --resume continues."),
    compile_limit: Optional[str] = typer.Option(None, "--compile-limit", metavar="TIME", help="Wall time for the whole model's eager and torch.compile window: past it torch.compile is 'not measured in time' and eager is timed alone (default with --time-budget: 40% of it)."),
    db: Path = typer.Option(Path("kernelswarm.db"), help="The store (SQLite)."),
    resume: bool = typer.Option(False, "--resume", help="Continue this model's unfinished search in --db."),
    jobs: int = typer.Option(1, min=1, help="Evaluations at once."),
    timeout: Optional[float] = typer.Option(None, min=1, help="Seconds per candidate evaluation."),
    precision: str = typer.Option("fp32", help="fp32 | tf32 | bf16 | fp16."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for the optimized model (what kernelswarm.load reads)."),
    tasks_out: Optional[Path] = typer.Option(None, "--tasks-out", help="Write every task as DIR/<task name>.py."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    no_compile: bool = typer.Option(False, "--no-compile", help="No torch.compile baselines or torch.compile(assembled): faster; speedup_vs_compile is null."),
    devices: Optional[str] = typer.Option(None, "--devices", help="Spread the tasks over GPUs of this host: cuda:0,cuda:1,... or all (as `run --devices`)."),
    mode: str = typer.Option("inference", "--mode", help="inference | train: tasks judged forward plus backward, a few optimizer steps of the whole model checked and timed (MODEL.py may define loss_fn(output, *inputs))."),
    min_gain: float = typer.Option(0.02, "--min-gain", help="An assembled model (and a task's winner) replaces the faster baseline only when its speedup interval's low end clears 1 + this."),
    ray: Optional[str] = typer.Option(None, "--ray", help="Search the tasks in Ray actors: local or a cluster address (as `run --ray`); the whole model is judged here."),
) -> None:
    """Optimize a whole model: tasks, the swarm on each, a verified drop-in model."""
    from kernelswarm.optimize.pipeline import run
    from kernelswarm.optimize.result import OptimizeError, Settings
    from kernelswarm.records import Precision

    if precision not in {p.value for p in Precision}:
        die(f"unknown precision {precision!r}: choose fp32, tf32, bf16 or fp16")
    if models is not None and not models.is_file():
        die(f"{models}: no such models file")
    if candidates is not None and not candidates.is_dir():
        die(f"{candidates}: no such candidates folder")
    if mode not in ("inference", "train"):
        die(f"unknown mode {mode!r}: choose inference or train")
    if not 0.0 <= min_gain < 10.0:
        die(f"--min-gain must be between 0 and 10 (a share: 0.02 means 2%), not {min_gain}")
    check_evaluator_env()
    wall = _seconds(time_budget)
    limit = _seconds(compile_limit, "--compile-limit")
    from kernelswarm.optimize.search import check_folder

    for folder, flag in ((out, "--out"), (tasks_out, "--tasks-out")):
        if folder is not None:
            try:
                check_folder(folder, flag)
            except ValueError as e:
                die(str(e))
    gpus, ray = _spread(devices, ray, device)
    problem, model, inputs, device, loss_fn = _load_model(model_file, device)
    if loss_fn is not None and mode != "train":
        loss_fn = None  # a loss is for training mode only
    from kernelswarm.agents.registry import default_models_path, parse_names

    models = models or default_models_path()
    s = Settings(device, parse_names(agents), str(models.resolve()) if models else None,
                 str(candidates.resolve()) if candidates else None, rounds, budget, str(db), jobs, timeout, precision,
                 resume, str(tasks_out) if tasks_out else None, compile_assembled=not no_compile,
                 compile_baselines=not no_compile, devices=gpus, ray=ray, min_gain=min_gain, mode=mode,
                 loss_fn=loss_fn, time_budget=wall, compile_limit=limit)
    _check_agents(s)
    view = None if as_json else _show
    from kernelswarm.store import StoreError

    try:
        opt = run(model, inputs, s, whole=problem, on_event=view)
    except OptimizeError as e:
        die(f"{model_file}: {e}")
    except (scale_opts.DeviceError, scale_opts.RayError) as e:
        die(str(e))
    except scale_opts.NowhereToTime as e:
        err_console.print(f"{e}: finished work is stored; continue with `kernelswarm optimize {model_file} --resume --db {db}`")
        raise typer.Exit(1)
    except StoreError as e:  # another process writes --db; the disk filled up
        die(str(e))
    except KeyboardInterrupt:
        err_console.print(f"interrupted: finished work is stored; continue with `kernelswarm optimize {model_file} --resume --db {db}`")
        raise typer.Exit(130)
    if out is not None:
        opt.save(out)
    report = _report(opt, db)
    if as_json:
        print(json.dumps(result_json(opt, problem.name, out), default=_num))
    else:
        summary(opt, out)
        console.print(f"report: {report}", highlight=False, markup=False)
    raise typer.Exit(0 if opt.correct else 1)


def _seconds(text: str | None, flag: str = "--time-budget") -> float | None:
    """--time-budget (or another time flag) as seconds, or exit 2 with one line."""
    if text is None:
        return None
    from kernelswarm.optimize.clock import parse_seconds

    try:
        return parse_seconds(text)
    except ValueError as e:
        die(f"{flag}: {e}")


def _spread(devices: str | None, ray: str | None, device: str | None) -> tuple[list[str] | None, str | None]:
    """--devices and --ray checked as `run` checks them (exit 2 with one line)."""
    if devices is not None and ray is not None:
        die("--ray and --devices are two ways to spread a run: choose one")
    if ray is not None:
        return None, scale_opts.check_ray(ray)
    if devices is None:
        return None, None
    if device not in (None, "cuda"):
        die(f"--devices names GPUs; it cannot be used with --device {device}")
    return [g.label for g in scale_opts.gpus(devices)], None


def _report(opt: "OptimizedModel", db: Path) -> str:
    """The run's report with the model section on top, next to the store."""
    from kernelswarm.optimize.manifest import manifest
    from kernelswarm.report.model import write_model_report

    out = db.resolve().parent / "kernelswarm-report"
    page = None
    try:
        if opt.run_id is not None:
            from kernelswarm.report.data import report_data_from_store
            from kernelswarm.report.html import render_html

            page = render_html(report_data_from_store(db, opt.run_id))
    except Exception as e:  # the run's part is optional; the model section is written anyway
        err_console.print(f"report: run section not written ({e.__class__.__name__}: {e})", markup=False)
    try:
        return str(write_model_report(manifest(opt), out, page))
    except Exception as e:
        return f"not written ({e.__class__.__name__}: {e})"


def _load_model(path: Path, device: str | None):
    """(problem, model instance, example inputs, device, its loss_fn or None) from MODEL.py, or exit 2
    with one line."""
    from kernelswarm.backends import DEVICES, available, best_device
    from kernelswarm.problems.load import ProblemError, exec_problem, load_problem

    device = device or best_device()
    if device not in DEVICES or device == "mps":
        die(f"unknown device {device!r}: choose cpu or cuda")
    if not available(device):
        die(f"device {device!r} is not available on this machine")
    try:
        problem = load_problem(path)
    except ProblemError as e:
        die(str(e))
    import torch

    try:
        module = exec_problem(problem.source, str(problem.path), device)
        sys.modules[module.__name__] = module  # its classes are the model's: task files embed their source
        torch.manual_seed(0)
        model = module.Model(*module.get_init_inputs()).to(device)
        with torch.device(device):
            inputs = tuple(module.get_inputs())
    except Exception as e:
        text = str(e).strip().splitlines()
        die(f"{path}: cannot build the model: {type(e).__name__}: {text[0] if text else ''}")
    loss_fn = getattr(module, "loss_fn", None)
    return problem, model, inputs, device, loss_fn if callable(loss_fn) else None


def _check_agents(s) -> None:
    from kernelswarm.agents.registry import build_agents

    try:
        build_agents(s.agents, Path(s.models) if s.models else None, Path(s.candidates) if s.candidates else None)
    except ValueError as e:
        die(str(e).splitlines()[0])


def _show(e) -> None:
    from kernelswarm.cli.run_cmd import _Progress
    from kernelswarm.supervisor import RunConfig

    line = _Progress(RunConfig())._line(e)
    if line:
        console.print(line, highlight=False)


def _num(v):
    return None if isinstance(v, float) and not math.isfinite(v) else str(v)


def result_json(opt: "OptimizedModel", name: str, out: Path | None) -> dict:
    return {
        "model": name, "device": opt.device, "correct": opt.correct,
        "speedup_vs_eager": opt.speedup_vs_eager, "speedup_vs_compile": opt.speedup_vs_compile,
        "speedup_ci": _list(opt.speedup_ci), "speedup_vs_compile_ci": _list(opt.speedup_vs_compile_ci),
        "choice": opt.choice, "reason": opt.end_to_end.reason, "mode": opt.mode,
        "steps": _steps(opt), "notes": list(opt.end_to_end.notes),
        "out": str(out) if out is not None else None,
        "tasks": [{"name": t.name, "count": t.count, "share": t.share, "baseline_ms": t.baseline_ms,
                   "best_ms": t.best_ms, "speedup": t.speedup, "speedup_ci": _list(t.speedup_ci), "agent": t.agent}
                  for t in opt.tasks],
    }


def _steps(opt: "OptimizedModel") -> dict | None:
    """Training mode: the whole training steps' check and paired timing (None when none ran)."""
    s = opt.end_to_end.steps
    if s is None:
        return None
    return {"passed": s.passed, "detail": s.detail, "against": s.against, "steps": s.steps,
            "optimizers": list(s.optimizers), "baseline_ms": s.baseline_ms, "candidate_ms": s.candidate_ms,
            "speedup": s.speedup, "speedup_ci": _list(s.speedup_ci)}


def _list(ci: tuple[float, float] | None) -> list[float] | None:
    return list(ci) if ci is not None else None


def _ci(ci: tuple[float, float] | None) -> str:
    return f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci is not None else ""


def _x(v: float | None) -> str:
    return f"{v:.2f}x" if v is not None else "-"


def _ms(v: float | None) -> str:
    return f"{v:.3f}" if v is not None else "-"


def _winner(x) -> str:
    if x.agent:
        return x.agent
    if x.baseline_ms is None:  # never timed: past the time budget, or no agent offered anything
        return "not searched"
    return "baseline" if x.llm else "baseline (no LLM: under 1%)"


def summary(opt: "OptimizedModel", out: Path | None) -> None:
    from rich.table import Table

    t = Table(title=f"{opt.model_class} on {opt.device}: {len(opt.tasks)} task(s), "
                    f"{sum(len(x.paths) for x in opt.tasks)} region(s)", title_justify="left")
    for col in ("task", "class", "count", "share", "eager ms", "best ms", "speedup", "winner", "share after"):
        t.add_column(col, justify="left" if col in ("task", "class", "winner") else "right")
    for x in opt.tasks:
        t.add_row(x.name, x.class_name, str(x.count), f"{100 * x.share:.1f}%", _ms(x.baseline_ms), _ms(x.best_ms),
                  _x(x.speedup), _winner(x),
                  f"{100 * x.share_after:.1f}%")
    console.print(t)
    ceiling = f"{opt.ceiling:.2f}x" if opt.ceiling else "unbounded"
    console.print(f"tasks cover {100 * opt.covered_share:.0f}% of the model's time; Amdahl ceiling {ceiling}",
                  highlight=False)
    for path, why in opt.refused:
        console.print(f"[yellow]not a task[/]: {path}: {why}", highlight=False)
    e = opt.end_to_end
    what = " (forward plus backward)" if e.mode == "train" else ""
    console.print(f"end to end{what}: eager {_ms(e.eager_ms)} ms, torch.compile {_ms(e.compile_ms)} ms, "
                  f"assembled {_ms(e.assembled_ms)} ms, torch.compile(assembled) {_ms(e.compiled_assembled_ms)} ms",
                  highlight=False, markup=False)
    for label, ev in e.evaluations:
        console.print(f"  {label}: {ev.verdict.value} ({ev.reason[:160]})", highlight=False, markup=False)
    for note in e.notes:
        console.print(f"[yellow]note[/]: {note}", highlight=False)
    verdict = "correct" if opt.correct else "NOT correct"  # printed with markup off (the reason is free text)
    console.print(f"result: {opt.choice}, {verdict}, {_x(opt.speedup_vs_eager)}{_ci(opt.speedup_ci)} vs eager, "
                  f"{_x(opt.speedup_vs_compile)}{_ci(opt.speedup_vs_compile_ci)} vs torch.compile (99% intervals, "
                  f"paired)", highlight=False, markup=False)
    if e.reason:
        console.print(f"  why: {e.reason}", highlight=False, markup=False)
    if e.steps is not None:
        console.print(f"  training steps ({e.steps.steps} per optimizer: {', '.join(e.steps.optimizers)}): "
                      f"{'match' if e.steps.passed else 'DIFFER'}: {e.steps.detail}", highlight=False, markup=False)
    secs = ", ".join(f"{k} {v:.1f}s" for k, v in opt.seconds.items())
    console.print(f"time: {secs}", highlight=False)
    if out is not None:
        console.print(f"saved: {out} (kernelswarm.load(model, {str(out)!r}))", highlight=False, markup=False)
