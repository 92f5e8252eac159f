"""`kernelswarm models check`: is each configured model reachable, and if not, why."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

models_app = typer.Typer(help="Configured language models (see docs/models.md).", no_args_is_help=True)


@models_app.command("check")
def check(
    models: Optional[Path] = typer.Option(
        None, "--models", help="Models file (TOML). Default: $KERNELSWARM_MODELS, ./kernelswarm.models.toml, ~/.config/kernelswarm/models.toml."
    ),
) -> None:
    """Send each model a tiny request; one line per model. Exit 1 if any is unreachable."""
    from kernelswarm.config import ConfigError, default_models_path, load_models
    from kernelswarm.llm.check import check_models

    path = models if models is not None else default_models_path()
    try:
        configs = load_models(path)
    except ConfigError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2)
    results = check_models(configs)
    width = max(len(r.name) for r in results)
    for r in results:
        status = "reachable" if r.reachable else "unreachable"
        typer.echo(f"{r.name:<{width}}  {status:<11}  {r.model} @ {r.endpoint}: {r.detail}")
    if not all(r.reachable for r in results):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
