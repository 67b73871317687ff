"""`tenor quickstart`: the whole product on the sample company, from nothing.

Steps, each idempotent (a second run reuses what the first one made):
  1. config: the sample config becomes $TENOR_HOME/config.yaml (unless one exists);
  2. model: the embedded base model is converted into an HF folder;
  3. index: the sample documents are indexed into the profile's collection;
  4. search: one retrieval query, to show the index answering;
  5. adapter: the brand-voice LoRA adapter is trained (or reused);
  6. serve: the assistant server starts, with vLLM, and a curl example is printed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import typer

from tenor import console
from tenor.config import config_path, load_settings

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "larkfield"
SAMPLE_QUERY = "How long is the warranty on the battery?"


def _step(number: int, text: str) -> None:
    console.err.print(f"\n[bold cyan]{number}.[/] [bold]{text}[/]", highlight=False)


def install_sample_config() -> Path:
    """Copy the sample config to the data directory's config file if there is none."""
    target = config_path()
    if not target.exists():
        if not (EXAMPLE / "tenor.yaml").is_file():
            console.fail(f"{EXAMPLE}: sample company not found; run the quickstart from a clone of the repository")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(EXAMPLE / "tenor.yaml", target)
        console.err.print(f"   wrote {target} (the sample company's profiles)", highlight=False)
    else:
        console.err.print(f"   using {target}", highlight=False)
    return target


def quickstart(
    train: bool = typer.Option(True, "--train/--no-train", help="train (or reuse) the brand-voice adapter"),
    serve: bool = typer.Option(True, "--serve/--no-serve", help="start the assistant server at the end"),
    port: int = typer.Option(None, "--port", help="server port (default: the configured one)"),
) -> None:
    """Set up the sample company end to end: model, index, adapter, server."""
    from finetune.base_model import prepare_base_model
    from ingest.index import open_index
    from ingest.pipeline import discover, ingest_paths

    _step(1, "Configuration")
    install_sample_config()
    try:
        settings = load_settings()
    except Exception as exc:  # ConfigError, shown plainly
        console.fail(str(exc))
    profile = settings.profile()
    console.err.print(f"   data directory {settings.home}; profile {profile.name!r}", highlight=False)

    _step(2, "Base model")
    model_dir = prepare_base_model(settings, report=lambda s: console.err.print(f"   {s}", highlight=False))
    console.err.print(f"   {model_dir}", highlight=False)

    _step(3, f"Index the sample documents into collection {profile.collection!r}")
    docs = EXAMPLE / "docs"
    files, _ = discover([docs])
    with console.progress("   indexing", total=len(files)) as advance:
        summary = ingest_paths(settings, [docs], profile.collection, prune=True, on_progress=advance)
    console.err.print(
        f"   {summary.added} added, {summary.updated} updated, {summary.unchanged} unchanged, "
        f"{summary.failed} failed; {summary.chunks} chunks in {summary.seconds:.1f}s", highlight=False,
    )

    _step(4, f"Search: {SAMPLE_QUERY!r}")
    for rank, passage in enumerate(open_index(settings, profile.collection).search(SAMPLE_QUERY, k=3), 1):
        where = passage.section or (f"page {passage.page}" if passage.page else "")
        snippet = " ".join(passage.text.split())[:110]
        console.err.print(f"   {rank}. {passage.score:.3f} {passage.document_id} > {where}\n      {snippet}…",
                          highlight=False)

    if train:
        _step(5, "Brand-voice adapter")
        _train_adapter(settings, profile)
    if serve:
        _step(6, "Assistant server")
        _serve(settings, port)


def _train_adapter(settings, profile) -> None:
    from finetune.quickstart import ensure_sample_adapter

    try:
        result = ensure_sample_adapter(settings, profile.name,
                                       report=lambda m: console.err.print(f"   {m}", highlight=False))
    except ValueError as exc:
        console.fail(str(exc))
    metrics = result.manifest.get("metrics", {})
    console.err.print(f"   {'reused' if result.reused else 'trained'} {result.path}  "
                      f"(eval loss {metrics.get('eval_loss', '-')})", highlight=False)


def _serve(settings, port) -> None:
    from assistant.cli import run_server

    run_server(settings, port=port)
