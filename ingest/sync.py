"""`tenor sync`: bring a profile's collection in step with one of its sources.

For each item the source lists: unchanged ones (same version stamp, or an HTTP
304) cost nothing more; new and changed ones go through the same pipeline as
`tenor ingest` (loaders, chunking, embedding, the index's convergent writes).
Each document records its ``origin`` (the source's name), ``url`` and version,
so a source needs no state of its own and replicas share one view. Pruning
removes only documents of this source, and only after a complete listing in
which every item answered: a failed or partial fetch keeps what was indexed.
Items a source says are gone (HTTP 404/410) are removed whatever else happened.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Callable

from ingest.index import open_index
from ingest.models import FileFailure, SyncSummary
from ingest.pipeline import Ingester, SourceFile
from ingest.sources import open_source
from ingest.sources.base import FetchError, SourceError
from tenor.config import Profile, Settings


def sync_source(settings: Settings, profile: Profile, config, *,
                progress: Callable[..., None] | None = None, source=None) -> SyncSummary:
    """Run one source of ``profile`` once; see the module docstring."""
    started = time.perf_counter()
    progress = progress or (lambda n=1, note=None: None)
    source = source or open_source(config)
    index = open_index(settings, profile.collection)
    summary = SyncSummary(collection=index.name, source=config.name)
    known = index.documents_from(config.name)
    listed: set[str] = set()
    gone: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="tenor-sync-") as tmp:
        files = []
        try:
            for number, item in enumerate(source.list_items(known)):
                listed.add(item.document_id)
                try:
                    fetched = source.fetch(item, known.get(item.document_id))
                except FetchError as exc:
                    summary.failed += 1
                    summary.failures.append(FileFailure(item.url or item.document_id, str(exc)))
                    continue
                finally:
                    progress(1, item.document_id)
                if fetched.gone:
                    gone.add(item.document_id)
                elif fetched.unchanged:
                    summary.unchanged += 1
                else:
                    path = fetched.path
                    if path is None:
                        path = Path(tmp) / f"{number}{fetched.suffix}"
                        path.write_bytes(fetched.content or b"")
                    metadata = {"origin": config.name, "url": item.url, "version": item.version,
                                **fetched.metadata}
                    files.append(SourceFile(path, item.document_id, label=item.url or str(fetched.path or item.document_id),
                                            metadata={k: v for k, v in metadata.items() if v is not None}))
        except SourceError as exc:
            summary.complete = False
            summary.failures.append(FileFailure(config.name, str(exc)))
        written = Ingester(settings, index.name).run(files)
    summary.added, summary.updated, summary.chunks = written.added, written.updated, written.chunks
    summary.unchanged += written.unchanged
    summary.failed += written.failed
    summary.failures += written.failures
    summary.complete = summary.complete and not summary.failed
    doomed = gone | (set(known) - listed if summary.complete else set())
    for doc_id in sorted(doomed & set(known)):
        if index.delete_document(doc_id):
            summary.removed += 1
    summary.requests = getattr(source, "requests", None)
    summary.seconds = round(time.perf_counter() - started, 3)
    return summary


def sync(settings: Settings, names: list[str] | None = None, *,
         progress: Callable[..., None] | None = None) -> list[SyncSummary]:
    """Run the named sources (all configured ones by default), one after the other."""
    return [sync_source(settings, profile, config, progress=progress)
            for profile, config in settings.sources(names)]
