"""Shared bits of the command line: the consoles and the one-line error exit."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def die(message: str, code: int = 2) -> NoReturn:
    """Unusable input: one line on stderr, no traceback, exit 2."""
    err_console.print(f"kernelswarm: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)
