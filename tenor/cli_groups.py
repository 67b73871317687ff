"""Command groups that several packages add commands to (e.g. `tenor adapters ...`)."""

import typer

adapters_app = typer.Typer(help="List, merge and hot-load LoRA adapters.", no_args_is_help=True)
model_app = typer.Typer(help="Prepare base models under the data directory.", no_args_is_help=True)
docs_app = typer.Typer(help="List and delete indexed documents.", no_args_is_help=True)
