"""The `tenor` console command: every command and group, in one table.

The wings' ``cli.py`` modules only define the command functions; this table
names them. Heavy libraries (torch, chromadb, transformers) are imported
inside commands, so `tenor --help` stays instant. Nothing imports this module.
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

from assistant import cli as server  # noqa: E402
from evaluation import cli as evaluation  # noqa: E402
from finetune import cli as finetune  # noqa: E402
from ingest import cli as ingest  # noqa: E402
from tenor import quickstart  # noqa: E402

GROUPS = {
    "docs": "List and delete indexed documents.",
    "model": "Prepare base models under the data directory.",
    "adapters": "List, merge, hot-load, promote (through the eval gate) and roll back LoRA adapters.",
    "feedback": "Feedback on logged answers, as training data.",
}

# (group or None for a top-level command, command name, function)
COMMANDS = [
    (None, "ingest", ingest.ingest),
    (None, "sync", ingest.sync),
    (None, "search", ingest.search),
    (None, "finetune", finetune.finetune),
    (None, "serve", server.serve),
    (None, "chat", server.chat),
    (None, "eval", evaluation.run_eval),
    (None, "gaps", server.gaps),
    (None, "quickstart", quickstart.quickstart),
    ("docs", "list", ingest.docs_list),
    ("docs", "delete", ingest.docs_delete),
    ("model", "prepare", finetune.model_prepare),
    ("model", "export-embedder", ingest.export_embedder),
    ("adapters", "list", finetune.adapters_list),
    ("adapters", "merge", finetune.adapters_merge),
    ("adapters", "load", server.adapters_load),
    ("adapters", "promote", server.adapters_promote),
    ("adapters", "rollback", server.adapters_rollback),
    ("feedback", "export", server.feedback_export),
]

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
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


groups = {name: typer.Typer(help=text, no_args_is_help=True) for name, text in GROUPS.items()}
for group, name, function in COMMANDS:
    (groups[group] if group else app).command(name)(function)
for name, group_app in groups.items():
    app.add_typer(group_app, name=name)

if __name__ == "__main__":
    app()
