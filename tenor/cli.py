"""The `tenor` console command. Each package adds its own subcommands.

Heavy libraries (torch, chromadb, transformers) are imported inside commands,
so `tenor --help` stays instant.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

# Nothing is downloaded at run time: a model is a local folder or already in the hub cache.
# Set before any wing imports huggingface_hub, which reads these once. HF_HUB_OFFLINE=0 opts out.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from assistant.cli import register as register_assistant  # noqa: E402
from evaluation.cli import register as register_eval  # noqa: E402
from finetune.cli import register as register_finetune  # noqa: E402
from ingest.cli import register as register_ingest  # noqa: E402
from tenor.cli_groups import adapters_app, docs_app, model_app  # noqa: E402
from tenor.quickstart import register as register_quickstart  # noqa: E402

app = typer.Typer(
    name="tenor",
    help="Tenor: a brand-voice assistant served by vLLM, grounded in your documents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def main(
    config: Optional[Path] = typer.Option(
        None, "--config", envvar="TENOR_CONFIG", help="config file (default: $TENOR_HOME/config.yaml)"
    ),
    home: Optional[Path] = typer.Option(
        None, "--home", envvar="TENOR_HOME", help="data directory (default: ~/.tenor)"
    ),
) -> None:
    if config:
        os.environ["TENOR_CONFIG"] = str(config)
    if home:
        os.environ["TENOR_HOME"] = str(home)


register_ingest(app)
register_finetune(app)
register_assistant(app)
register_eval(app)
register_quickstart(app)
app.add_typer(docs_app, name="docs")
app.add_typer(model_app, name="model")
app.add_typer(adapters_app, name="adapters")

if __name__ == "__main__":
    app()
