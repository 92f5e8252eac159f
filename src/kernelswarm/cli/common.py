"""Shared bits of the command line: the consoles and the one-line error exit."""

from __future__ import annotations

import os
import sys
from typing import NoReturn

import typer
from rich.console import Console


def _width(stream) -> int | None:
    """A terminal's own width; else (a pipe, a file, CI logs) wide enough that tables keep every
    cell whole, instead of rich's 80 columns, which cut them."""
    if os.environ.get("COLUMNS") or stream.isatty():
        return None
    return 1000


console = Console(highlight=False, width=_width(sys.stdout))
err_console = Console(stderr=True, highlight=False, width=_width(sys.stderr))


def die(message: str, code: int = 2) -> NoReturn:
    """Unusable input: one line on stderr, no traceback, exit 2."""
    err_console.print(f"kernelswarm: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def check_evaluator_env() -> None:
    """What the evaluator reads from the environment, checked before any work starts."""
    from kernelswarm.evaluate.parent.autogroup import BadNice, requested_nice

    try:
        requested_nice()
    except BadNice as e:
        die(str(e))
