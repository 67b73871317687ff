"""`tenor ingest`, `tenor search`, `tenor docs list|delete`."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from tenor import console

CollectionOpt = typer.Option(None, "--collection", "-c", help="collection (default: the default profile's)")
JsonOpt = typer.Option(False, "--json", help="print one JSON document on stdout")


def _index_errors():
    from ingest.index import IndexStoreError
    from tenor.config import ConfigError

    return IndexStoreError, ConfigError  # ConfigError: e.g. an embed.model path that does not exist


def ingest(
    paths: List[Path] = typer.Argument(..., help="files or folders to index"),
    collection: Optional[str] = CollectionOpt,
    prune: bool = typer.Option(False, "--prune", help="remove documents whose source is no longer among PATHS"),
    strict: bool = typer.Option(False, "--strict", help="exit 1 if any file failed"),
    as_json: bool = JsonOpt,
) -> None:
    """Index documents (txt, md, html, pdf, docx); unchanged ones are skipped."""
    from ingest.pipeline import discover, ingest_paths

    settings = console.settings()
    files, _ = discover(paths)
    try:
        with console.progress("Indexing", total=len(files), enabled=not as_json) as advance:
            summary = ingest_paths(settings, paths, collection, prune=prune, on_progress=advance)
    except _index_errors() as exc:
        console.fail(str(exc))
    if as_json:
        console.print_json(summary.to_dict())
    else:
        _print_summary(summary)
    if strict and summary.failed:
        raise typer.Exit(1)


def _print_summary(summary) -> None:
    c = console.err
    c.print(
        f"[bold]{summary.collection}[/]: {summary.added} added, {summary.updated} updated, "
        f"{summary.unchanged} unchanged, {summary.removed} removed, {summary.failed} failed; "
        f"{summary.chunks} chunks written in {summary.seconds:.1f}s",
        highlight=False,
    )
    for failure in summary.failures:
        c.print(f"  [yellow]skipped[/] {failure.path}: {failure.reason}", highlight=False)


def search(
    query: str = typer.Argument(..., help="what to look for"),
    k: int = typer.Option(5, "-k", min=1, max=100, help="number of passages"),
    collection: Optional[str] = CollectionOpt,
    where: List[str] = typer.Option([], "--where", help="metadata filter KEY=VALUE (repeatable)"),
    mode: Optional[str] = typer.Option(None, "--mode", help="hybrid (BM25 + dense, fused by rank) or dense "
                                       "(default: the default profile's retrieval.mode)"),
    as_json: bool = JsonOpt,
) -> None:
    """Print the passages that best match QUERY, best first, with their dense (cosine) and BM25 scores."""
    from ingest.index import open_index

    filters = {}
    for item in where:
        key, sep, value = item.partition("=")
        if not sep or not key:
            console.fail(f"--where expects KEY=VALUE, got {item!r}")
        filters[key] = value
    settings = console.settings()
    mode = mode or settings.profile().retrieval.mode
    if mode not in ("hybrid", "dense"):
        console.fail(f"--mode expects hybrid or dense, got {mode!r}")
    try:
        passages = open_index(settings, collection).search(query, k=k, filters=filters or None, mode=mode)
    except _index_errors() as exc:
        console.fail(str(exc))
    if as_json:
        console.print_json([p.to_dict() for p in passages])
        return
    if not passages:
        console.err.print("no passages (is the collection empty? run `tenor ingest PATH`)")
    for rank, p in enumerate(passages, start=1):
        where_in_doc = " > ".join(x for x in (p.section, f"page {p.page}" if p.page else None) if x)
        bm25 = f"  bm25 [cyan]{p.lexical_score:.2f}[/]" if p.lexical_score is not None else ""
        console.out.print(
            f"[bold]{rank}.[/] dense [cyan]{p.score:.3f}[/]{bm25}  [bold]{p.document_id}[/]"
            + (f"  [dim]{where_in_doc}[/]" if where_in_doc else ""),
            highlight=False,
        )
        text = " ".join(p.text.split())
        console.out.print(f"   {text[:400]}{'...' if len(text) > 400 else ''}\n", highlight=False)


def docs_list(collection: Optional[str] = CollectionOpt, as_json: bool = JsonOpt) -> None:
    """List the documents in a collection."""
    from ingest.index import open_index

    try:
        docs = open_index(console.settings(), collection).list_documents()
    except _index_errors() as exc:
        console.fail(str(exc))
    if as_json:
        console.print_json([d.to_dict() for d in docs])
        return
    from rich.table import Table

    table = Table("document", "chunks", "ingested", "hash", "source")
    for d in docs:
        table.add_row(d.document_id, str(d.chunks), d.ingested_at, d.content_hash[:12], d.source)
    console.out.print(table)
    console.err.print(f"{len(docs)} documents")


def docs_delete(
    document_ids: List[str] = typer.Argument(..., help="document ids (as `tenor docs list` shows them)"),
    collection: Optional[str] = CollectionOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Delete documents (all their chunks) from a collection."""
    from ingest.index import open_index

    index = open_index(console.settings(), collection)
    try:
        result = {doc_id: index.delete_document(doc_id) for doc_id in document_ids}
    except _index_errors() as exc:
        console.fail(str(exc))
    if as_json:
        console.print_json({"deleted": [d for d, ok in result.items() if ok],
                            "not_found": [d for d, ok in result.items() if not ok]})
    else:
        for doc_id, ok in result.items():
            console.err.print(f"{'deleted' if ok else '[yellow]not found[/]'} {doc_id}", highlight=False)
    if not all(result.values()):
        raise typer.Exit(1)


def export_embedder(
    out: Optional[Path] = typer.Option(None, "--out", help="folder (default: embed.onnx_path or "
                                       "$TENOR_HOME/models/<embed.model>-onnx)"),
    force: bool = typer.Option(False, "--force", help="export again even if the folder holds this model"),
    as_json: bool = JsonOpt,
) -> None:
    """Export the embedding model to ONNX, for `embed.backend: onnx` (servers without torch)."""
    import json

    from ingest.onnx_embedder import MANIFEST, OnnxEmbedderError, default_onnx_dir
    from ingest.onnx_export import export_embedder as export

    settings = console.settings()
    folder = out or default_onnx_dir(settings.embed, settings.models_dir)
    manifest_path = folder / MANIFEST
    existing = json.loads(manifest_path.read_text()) if manifest_path.is_file() else None
    if existing and existing.get("model") == settings.embed.model and not force:
        manifest, skipped = existing, True
    else:
        console.err.print(f"exporting {settings.embed.model} to {folder} ...", highlight=False)
        try:
            manifest, skipped = export(settings.embed, folder), False
        except (OnnxEmbedderError, RuntimeError) as exc:
            console.fail(str(exc))
    if as_json:
        console.print_json({"folder": str(folder), "skipped": skipped, **manifest})
        return
    check = manifest.get("check", {})
    console.err.print(
        f"{'up to date' if skipped else 'exported'}: {folder} ({manifest['dimension']} dims, "
        f"{manifest['pooling']} pooling, min cosine to sentence-transformers {check.get('min_cosine')}); "
        "serve it with embed.backend: onnx",
        highlight=False,
    )


def sync(
    sources: List[str] = typer.Argument(None, help="source names (default: every configured source)"),
    as_json: bool = JsonOpt,
) -> None:
    """Bring collections in step with their sources (folders, websites, exports): fetch what
    changed, prune what a complete listing no longer has. Exit 1 if any source had errors."""
    from ingest.sync import sync_source
    from tenor.config import ConfigError

    settings = console.settings()
    try:
        pairs = settings.sources(sources)
    except ConfigError as exc:
        console.fail(str(exc))
    if not pairs:
        console.fail("no sources configured: add profiles.<name>.sources to the config (see docs/sources.md)")
    summaries = []
    for profile, config in pairs:
        try:
            with console.progress(f"Syncing {config.name}", total=None, enabled=not as_json) as advance:
                summary = sync_source(settings, profile, config, progress=advance)
        except _index_errors() as exc:
            console.fail(str(exc))
        summaries.append(summary)
        if not as_json:
            _print_sync(summary)
    if as_json:
        console.print_json([s.to_dict() for s in summaries])
    if any(s.failures for s in summaries):
        raise typer.Exit(1)


def _print_sync(summary) -> None:
    requests = f", {summary.requests} requests" if summary.requests is not None else ""
    console.err.print(
        f"[bold]{summary.source}[/] -> {summary.collection}: {summary.added} added, {summary.updated} updated, "
        f"{summary.unchanged} unchanged, {summary.removed} removed, {summary.failed} failed{requests} "
        f"in {summary.seconds:.1f}s" + ("" if summary.complete else " (incomplete: nothing pruned)"),
        highlight=False,
    )
    for failure in summary.failures:
        console.err.print(f"  [yellow]error[/] {failure.path}: {failure.reason}", highlight=False)

