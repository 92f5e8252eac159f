"""The command line: a thin layer over the library, and the only place that prints.

Each sub-module registers its commands; heavy imports (torch, SDKs) happen inside commands so
that `kernelswarm --help` stays instant.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="kernelswarm",
    help="A swarm of agents that writes faster, verified kernels for PyTorch modules.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_COMMAND_MODULES = ("eval_cmd", "run_cmd", "optimize_cmd", "problems_cmd", "models_cmd", "report_cmd")
for _name in _COMMAND_MODULES:
    importlib.import_module(f"kernelswarm.cli.{_name}").register(app)


def main() -> None:
    app()
