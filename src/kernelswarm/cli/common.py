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
