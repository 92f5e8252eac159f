"""`kernelswarm run` (the main job) and `kernelswarm export`.

Thin: resolve the input, build the agents, hand everything to the supervisor, and show its events
and the final summary. Heavy imports happen inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

import typer

from kernelswarm.cli import scale_opts
from kernelswarm.cli.common import check_evaluator_env, console, die, err_console

if TYPE_CHECKING:
    from kernelswarm.store import ProblemResult, RunInfo, Store
    from kernelswarm.supervisor import Event, RunConfig

DEFAULT_DB = Path("kernelswarm.db")


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("export")(export)


def run(
    problems: Optional[list[str]] = typer.Argument(None, help="Problem files, folders or bundled name globs; none: a quick subset."),
    suite: Optional[str] = typer.Option(None, help="A named suite: bundled (inference), train (training problems)."),
    level: Optional[int] = typer.Option(None, help="Only problems of this level."),
    device: Optional[str] = typer.Option(None, help="cpu | cuda; default: the best device present."),
    agents: Optional[str] = typer.Option(None, help="Comma list of agent names (built-in names, 'builtin', model names)."),
    models: Optional[Path] = typer.Option(None, help="Models file (TOML) for LLM agents."),
    candidates: Optional[Path] = typer.Option(None, help="Folder of candidates: DIR/<problem name>.py."),
    rounds: int = typer.Option(1, min=1, help="Rounds of propose, evaluate, feed back."),
    budget: Optional[float] = typer.Option(None, min=0, help="Stop asking model agents once the run has cost this many USD."),
    db: Path = typer.Option(DEFAULT_DB, help="The store (SQLite)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the latest unfinished run in --db; problems whose baselines failed are tried again."),
    jobs: Optional[int] = typer.Option(None, min=1, help="Evaluations at once (default 1). On a GPU, N > 1 overlaps start-up, compiles and checks; timings stay exclusive."),
    context: str = typer.Option("feedback", help="Context arms shown to agents: feedback,profile,other-backend (or none)."),
    timeout: float = typer.Option(300.0, min=1, help="Seconds per candidate evaluation."),
    strict: bool = typer.Option(False, "--strict", help="Accept only custom kernels."),
    precision: str = typer.Option("fp32", help="fp32 | tf32 | bf16 | fp16."),
    devices: Optional[str] = typer.Option(None, "--devices", help="GPUs of this host to spread the problems over: cuda:0,cuda:1,... or all (one GPU model). --jobs is then per GPU."),
    ray: Optional[str] = typer.Option(None, "--ray", help="Evaluate in Ray actors, one per GPU (or CPU slot with --device cpu): 'local' starts Ray here, else a cluster address. Needs pip install 'kernelswarm\\[ray]'."),
    shard: Optional[str] = typer.Option(None, "--shard", help="K/N: only the K-th of N disjoint parts of the problems (a Slurm array task); report the shards' stores together with `report --db A --db B ...`."),
    mode: Optional[str] = typer.Option(None, help="train: judge forward plus backward (gradients checked); default: each problem's KERNELSWARM_MODE, else inference."),
    min_gain: float = typer.Option(0.02, "--min-gain", help="A candidate replaces the faster baseline only when its speedup interval's low end clears 1 + this."),
) -> None:
    """Optimize problems with every configured agent; store, select and summarize."""
    check_evaluator_env()
    store = _open_store(db)
    try:
        _run(store, db, resume, lambda: _config(problems or [], suite, level, device, agents, models, candidates,
                                                rounds, budget, jobs, context, timeout, strict, precision, shard=shard,
                                                devices=devices, ray=ray, mode=mode, min_gain=min_gain))
    finally:
        store.close()  # lets go of the writer's lock


def _run(store: "Store", db: Path, resume: bool, make_config: "Callable[[], RunConfig]") -> None:
    from kernelswarm.store import StoreFull
    from kernelswarm.supervisor import OUT_OF_SPACE, Event, OtherMachine, RunConfig, Supervisor

    if resume:
        run_id = store.resumable_run_id()
        if run_id is None:
            die(f"{db}: no unfinished run to resume (and no problem whose baselines failed)")
        config = RunConfig.from_dict(store.run(run_id).config)
        from kernelswarm.backends import available

        if config.ray:
            scale_opts.check_ray(config.ray)
        elif not available(config.device):
            die(f"run {run_id} ran on {config.device}, which this machine does not have")
        console.print(f"resuming run {run_id} with its stored settings (device {config.device})")
    else:
        run_id = None
        config = make_config()
    agent_list = _agents(config)
    todo = _problems(config, strict_input=not resume)
    if not todo and run_id is None and config.shard:
        console.print(f"shard {config.shard}: no problems fall in this shard; nothing to do")
        raise typer.Exit(0)
    if not todo and run_id is None:
        die("no problems to run")
    # Built-in variants for other devices stay in the list (they propose nothing); say so once.
    idle = [a.name for a in agent_list if config.device not in getattr(getattr(a, "variant", None), "devices", (config.device,))]
    names = ", ".join(a.name for a in agent_list if a.name not in idle) or "none"
    part = f" (shard {config.shard})" if config.shard else ""
    console.print(f"[bold]kernelswarm run[/]: {len(todo)} problem(s){part} on {config.device}; agents: {names}; db: {db}",
                  highlight=False)
    if idle:
        console.print(f"[dim]not for {config.device}: {', '.join(idle)}[/]", highlight=False)
    view = _Progress(config)
    try:
        with scale_opts.placement(config, lambda m: view.show(Event("note", "", message=m))) as slots, view.status:
            if slots is None:
                run_id = Supervisor(store, config, agent_list, on_event=view.show).run(todo, run_id)
            else:
                from kernelswarm.scale.placement import run_placed

                run_id = run_placed(store, config, agent_list, slots, todo, run_id, on_event=view.show)
    except KeyboardInterrupt:
        err_console.print(f"interrupted: finished work is stored; continue with `kernelswarm run --resume --db {db}`")
        raise typer.Exit(130)
    except OtherMachine as e:
        die(str(e))
    except scale_opts.NowhereToTime as e:
        err_console.print(f"{e}: finished work is stored; continue with `kernelswarm run --resume --db {db}`")
        raise typer.Exit(1)
    except StoreFull as e:
        die(f"{e}; free space, then continue with `kernelswarm run --resume --db {db}`")
    except OSError as e:
        if e.errno not in OUT_OF_SPACE:
            raise
        die(f"{e.filename or db}: {e.strerror}: stopped; everything finished before is stored; free space,"
            f" then continue with `kernelswarm run --resume --db {db}`")
    _summary(store, run_id)
    _report(db, run_id)
    unusable = _no_usable_result(store, run_id)
    if unusable:
        err_console.print(f"kernelswarm: no problem got a usable result: {unusable}", markup=False, soft_wrap=True)
        raise typer.Exit(1)


def _no_usable_result(store: "Store", run_id: int) -> str | None:
    """Why no problem of the run has a usable result (a measured baseline and at least one judged
    candidate), or None when one has."""
    results = store.problem_results(run_id)
    judged = {c.problem for c in store.candidates(run_id) if c.verdict is not None}
    if any(r.eager_ms is not None and r.name in judged for r in results):
        return None
    if not any(r.eager_ms is not None for r in results):
        return "no baseline could be measured"
    return "no candidate was judged (every agent failed, was unreachable, or had nothing for this device)"


def _open_store(db: Path) -> "Store":
    from kernelswarm.store import Store, StoreError

    try:
        return Store(db)
    except StoreError as e:  # another run writes it; the disk is full
        die(str(e))
    except Exception as e:  # not a database, no permission, a directory
        die(f"{db}: cannot open store ({e.__class__.__name__}: {e})")


def _config(problems: list[str], suite, level, device, agents, models, candidates, rounds, budget, jobs,
            context, timeout, strict, precision, shard: str | None = None,
            devices: str | None = None, ray: str | None = None, mode: str | None = None,
            min_gain: float = 0.02) -> "RunConfig":
    from kernelswarm.backends import DEVICES, available, best_device
    from kernelswarm.records import Precision
    from kernelswarm.supervisor import CONTEXT_ARMS, RunConfig

    if ray is not None:
        if devices is not None:
            die("--ray and --devices are two ways to spread a run: choose one (Ray places actors on every GPU)")
        ray = scale_opts.check_ray(ray)
    gpus = None
    if devices is not None:
        if device not in (None, "cuda"):
            die(f"--devices names GPUs; it cannot be used with --device {device}")
        device = "cuda"
        # Before the check that CUDA is here, so that a host without a GPU hears about --devices.
        gpus = [g.label for g in scale_opts.gpus(devices)]
    device = device or best_device()
    if device not in DEVICES or device == "mps":
        die(f"unknown device {device!r}: choose cpu or cuda")
    if not available(device) and ray is None:  # with Ray, the cluster's nodes need it, not this one
        die(f"device {device!r} is not available on this machine")
    if precision not in {p.value for p in Precision}:
        die(f"unknown precision {precision!r}: choose fp32, tf32, bf16 or fp16")
    if shard is not None:
        from kernelswarm.scale.shard import Shard

        try:
            shard = str(Shard.parse(shard))
        except ValueError as e:
            die(str(e))
    if mode is not None and mode not in ("train", "inference"):
        die(f"unknown mode {mode!r}: choose train or inference")
    if not 0.0 <= min_gain < 10.0:
        die(f"--min-gain must be between 0 and 10 (a share: 0.02 means 2%), not {min_gain}")
    arms = [] if context.strip() == "none" else [a.strip() for a in context.split(",") if a.strip()]
    bad = [a for a in arms if a not in CONTEXT_ARMS]
    if bad:
        die(f"unknown context arm {bad[0]!r}: choose from {', '.join(CONTEXT_ARMS)} or none")
    if models is not None and not models.is_file():
        die(f"{models}: no such models file")
    if candidates is not None and not candidates.is_dir():
        die(f"{candidates}: no such candidates folder")
    from kernelswarm.agents.registry import default_models_path, parse_names

    models = models or default_models_path()
    jobs = jobs or _default_jobs(device)
    return RunConfig(
        device=device, problems=list(problems), suite=suite, level=level, agents=parse_names(agents),
        models=str(models.resolve()) if models else None,
        candidates=str(candidates.resolve()) if candidates else None, rounds=rounds, budget_usd=budget,
        jobs=jobs, context=arms, timeout_s=timeout, strict=strict, precision=precision, shard=shard,
        devices=gpus, ray=ray.strip() if ray else None, mode=mode, min_gain=min_gain,
    )



def _default_jobs(device: str) -> int:
    """On a CPU, as many evaluations at once as cores and memory allow (machine.jobs_ahead): their
    worker starts, builds (torch.compile, C++ extensions) and correctness trials overlap, while
    each timing holds the run's device lock, which stops every other evaluation's processes (a
    stopped process uses no core, so the timing has the machine to itself). On a GPU one by
    default: no candidate process is alive while anything else is timed. `--jobs N` there overlaps
    the same work at a cost stated in the README (work a stopped candidate had already queued on
    the GPU still runs while another is timed)."""
    if device == "cpu":
        from kernelswarm.machine import jobs_ahead

        return jobs_ahead()
    return 1


def _agents(config: "RunConfig") -> list:
    from kernelswarm.agents.registry import build_agents

    try:
        built = build_agents(config.agents, Path(config.models) if config.models else None,
                             Path(config.candidates) if config.candidates else None)
    except ValueError as e:  # AgentConfigError, ConfigError, a missing folder: all one line
        die(str(e).splitlines()[0])
    if not built:
        die("no agents to run")
    return built


def _problems(config: "RunConfig", strict_input: bool) -> list:
    """The run's problems. A named input that is missing or unusable is an error (exit 2); a bad
    file found inside a folder or glob is skipped with a warning."""
    found = _all_problems(config, strict_input)
    if config.shard:
        from kernelswarm.scale.shard import Shard

        found = Shard.parse(config.shard).take(found)
    return found


def _all_problems(config: "RunConfig", strict_input: bool) -> list:
    from kernelswarm.problems.suite import NoMatch, error_parts, quick_subset, resolve_problems

    if not config.problems and config.suite is None and config.level is None:
        return quick_subset(config.device)
    found, errors = resolve_problems(config.problems, config.suite, config.level)
    named = {str(Path(a)) for a in config.problems}
    for err in errors:
        path, reason = error_parts(err)
        if strict_input and (isinstance(err, NoMatch) or str(Path(path)) in named):
            die(f"{path}: {reason}")
        err_console.print(f"skipping {path}: {reason}", markup=False)
    return found


class _Progress:
    """One line per event; a spinner says what is under way (only on a terminal)."""

    def __init__(self, config: "RunConfig") -> None:
        self.status = console.status("starting", spinner="dots")
        self.rounds = config.rounds
        # Problems overlap with --jobs > 1: then every line names its problem.
        self.named = config.jobs > 1 or bool(config.devices) or bool(config.ray)

    def show(self, e: "Event") -> None:
        line = self._line(e)
        if line:
            from kernelswarm import redact

            line = redact.scrub(line)  # events carry candidates' reasons and models' notes
        if line and self.named and e.kind != "problem":
            from rich.markup import escape

            line = f"[dim]{escape(e.problem)}[/]" + line
        if line:
            console.print(line, highlight=False)
        if e.kind in ("problem", "baselines", "proposed"):
            self.status.update(f"{e.problem}: evaluating" if e.kind != "problem" else f"{e.problem}: timing baselines")

    def _line(self, e: "Event") -> str | None:
        from rich.markup import escape

        who = f"{e.agent}" + (f" r{e.round}" if self.rounds > 1 else "")
        if e.kind == "problem":
            return f"[bold]{escape(e.problem)}[/]" + (f" ({e.message})" if e.message else "")
        if e.kind == "baselines":
            if e.eager is None:
                return f"  [red]{escape(e.message)}[/]"
            comp = f"{e.compiled.median_ms:.3f} ms" if e.compiled else "n/a"
            return f"  baselines: eager {e.eager.median_ms:.3f} ms, torch.compile {comp}"
        if e.kind == "proposed":
            return f"  {escape(who)}: {escape(e.message)}"
        if e.kind == "evaluated" and e.evaluation is not None:
            from kernelswarm.records import lock_wait_text

            ev = e.evaluation
            where = f" [dim]\\[{escape(ev.timed_on)}][/]" if ev.timed_on else ""
            where += f" [dim]({escape(lock_wait_text(ev.lock_wait_s, ev.lock_holder))})[/]" if ev.lock_holder else ""
            if ev.correct and ev.candidate:
                ci = f" [{ev.speedup_ci[0]:.2f}, {ev.speedup_ci[1]:.2f}]" if ev.speedup_ci else ""
                x = f"{ev.speedup:.2f}x{ci} eager" if ev.speedup else ""
                kind = f", {ev.kind.value}" if ev.kind else ""
                return f"  {escape(who)}: [green]accepted[/] {ev.candidate.median_ms:.3f} ms ({x}{kind}){where}"
            noise = " (noise-sensitive)" if ev.noise_sensitive else ""  # load could have caused it: not a lie
            return f"  {escape(who)}: [yellow]{ev.verdict.value}{noise}[/] {escape(ev.reason[:160])}{where}"
        if e.kind == "done" and e.result is not None:
            r = e.result
            mark = " [yellow](flagged by the screen: kept out of the headline)[/]" if r.flags else ""
            mark = (f" {escape(e.message)}" if e.message else "") + mark
            if r.eager_ms is None:
                return f"  -> no result ({escape(r.baseline_error or 'baselines failed')})"
            if r.best is not None:
                return (f"  -> best: [bold]{escape(r.best.agent)}[/] {r.best.candidate_ms:.3f} ms, "
                        f"{r.speedup_vs_eager:.2f}x eager, {r.speedup_vs_best_baseline:.2f}x best baseline, "
                        f"{escape(r.reason)}{mark}")
            return (f"  -> nothing beat the baseline: {r.best_baseline} stands ({r.speedup_vs_eager:.2f}x eager); "
                    f"{escape(r.reason)}{mark}")
        if e.kind == "note":
            return f"  [dim]note: {escape(e.message)}[/]"
        return None


def _summary(store: "Store", run_id: int) -> None:
    """The run's summary, from the records the HTML report shows (cli.summary)."""
    from kernelswarm.cli.summary import print_summary
    from kernelswarm.report.data import report_data_from_store

    print_summary(report_data_from_store(store.path, run_id))


def _report(db: Path, run_id: int) -> None:
    """Write the HTML report next to the store when the report module is present."""
    out = db.resolve().parent / "kernelswarm-report"
    try:
        from kernelswarm.report.data import report_data_from_store
        from kernelswarm.report.html import write_report

        path = write_report(report_data_from_store(db, run_id), out)
        console.print(f"report: {path}")
    except Exception as e:
        console.print(f"report: not written ({e.__class__.__name__}: {e}); try `kernelswarm report --db {db} --run {run_id}`",
                      markup=False)


def export(
    db: list[Path] = typer.Option([DEFAULT_DB], "--db", help="The store (SQLite); give several (shards of one sweep) to export them as one run."),
    run_id: Optional[int] = typer.Option(None, "--run", help="Run id; default: the latest run (one store only)."),
    out: Path = typer.Option(..., "--out", help="Folder for DIR/<problem name>.py."),
) -> None:
    """Write the best ModelNew of each problem as OUT/<problem name>.py."""
    if run_id is not None and len(db) > 1:
        die("--run names a run of one store; with several --db, each store's latest run is exported")
    loaded = [_stored_results(path, run_id) for path in db]
    owner: dict[str, Path] = {}
    for path, (_, results) in zip(db, loaded):
        for r in results:
            if r.name in owner:
                die(f"problem {r.name} is in both {owner[r.name]} and {path}: not the shards of one run")
            owner[r.name] = path
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for info, results in loaded:
        for r in results:
            text = export_text(r, info)
            if text is None:
                err_console.print(f"skipping {r.name}: {r.baseline_error or 'no baseline was measured'}", markup=False)
                continue
            (out / f"{r.name}.py").write_text(text)
            written += 1
    runs = ", ".join(f"run {info.id}" + (f" of {path}" if len(db) > 1 else "") for path, (info, _) in zip(db, loaded))
    console.print(f"wrote {written} file(s) to {out} from {runs}", markup=False)


def _stored_results(db: Path, run_id: Optional[int]) -> "tuple[RunInfo, list[ProblemResult]]":
    """A run's info and per-problem results, read-only; unusable input exits 2."""
    from kernelswarm.store import Store

    if not db.is_file():
        die(f"{db}: no such store")
    try:
        store = Store(db, read_only=True)
        run_id = run_id if run_id is not None else store.latest_run_id()
        if run_id is None:
            die(f"{db}: no runs")
        return store.run(run_id), store.problem_results(run_id)
    except typer.Exit:
        raise
    except KeyError as e:
        die(str(e).strip("'\""))
    except Exception as e:  # sqlite3.DatabaseError: not a kernelswarm store
        die(f"{db}: cannot read store ({e.__class__.__name__}: {e})")


def _supports(r: "ProblemResult", which_variant: str | None) -> str:
    """What the exported module is right for: the built-in variants know; anything else was judged
    on forward calls only."""
    from kernelswarm.agents.builtin import VARIANTS

    if r.best is None:
        return "inference and training (a baseline: the reference itself, or torch.compile of it)"
    variant = next((v for v in VARIANTS if v.name == which_variant), None)
    if variant is not None:
        return "inference and training" if variant.training else "inference only (no_grad or captured graphs)"
    return "inference only: the evaluator judged forward calls, not gradients"


def export_text(r: "ProblemResult", info: "RunInfo") -> str | None:
    """A drop-in ModelNew file for one problem, with a header saying where it came from."""
    from kernelswarm.agents.builtin import VARIANTS, Variant, render
    from kernelswarm.problems.load import Problem

    if r.eager_ms is None:
        return None
    v = info.versions
    facts = ", ".join(f"{k} {v[k]}" for k in ("device_name", "torch", "triton", "cuda", "driver") if v.get(k))
    head = [f"# kernelswarm export: problem `{r.name}` (hash {r.hash}), run {info.id}",
            f"# device: {info.device}" + (f" ({facts})" if facts else "")]
    if r.best is not None:
        head.append(f"# agent: {r.best.agent} (round {r.best.round}, candidate {r.best.id}, {r.best.kind or 'kind unknown'})")
        if r.best.timed_on:
            head.append(f"# timed on: {r.best.timed_on}")
        body = r.best.source
    else:
        which = r.best_baseline
        head.append(f"# agent: none. No candidate beat the faster baseline, so this file IS that baseline: "
                    f"{'torch.compile of Model' if which == 'compile' else 'eager Model'}.")
        problem = Problem(name=r.name, path=Path(r.path), source=r.source, hash=r.hash, level=r.level)
        variant = next(x for x in VARIANTS if x.name == "compile") if which == "compile" else \
            Variant("eager", (info.device,), "eager PyTorch: the reference Model itself", init="", language="pytorch")
        body = render(variant, problem, info.device)
    head.append("# supports: " + _supports(r, which_variant=r.best.agent if r.best else r.best_baseline))
    head.append("# global settings: none changed on import (compiler settings hold inside this module's calls)")
    base = f"{r.best_baseline} {r.best_baseline_ms:.4f} ms"
    head.append(f"# measured: {r.result_ms:.4f} ms; {r.speedup_vs_eager:.3f}x vs eager ({r.eager_ms:.4f} ms), "
                f"{r.speedup_vs_best_baseline:.3f}x vs the faster baseline ({base})")
    return "\n".join(head) + "\n\n" + body
