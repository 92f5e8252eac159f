"""Commands registered by this module (being written)."""

import typer


def register(app: typer.Typer) -> None:
    pass
