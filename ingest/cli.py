"""CLI commands of this package (registered on the `tenor` app)."""

import typer


def register(app: typer.Typer) -> None:
    pass
