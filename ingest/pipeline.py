"""Ingest: files -> loaders -> chunks -> embeddings -> the index, incrementally.

Document id = the file's path relative to the folder given (or its name, for a
single file), or an id given by the caller. A document whose bytes and
pipeline settings are unchanged and fully indexed is skipped; a changed one
has its chunks replaced; with ``prune`` the collection is made to mirror the
given paths exactly. Chunks of several documents are embedded together, so
the embedder always sees full batches.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from ingest.chunking import chunk_document, embedding_text, make_splitter
from ingest.index import DocumentState, Index, open_index
from ingest.loaders import LoadError, load_file
from ingest.models import Chunk, FileFailure, IngestSummary
from tenor.config import Settings

PIPELINE_VERSION = "1"  # bump when loaders or chunking change how text is cut
Progress = Callable[..., None]  # progress(n=1, note=None)


@dataclass
class SourceFile:
    path: Path
    document_id: str
    label: str | None = None  # what the index records as the source (default: the path)
    metadata: dict | None = None  # extra chunk metadata (a synced document's origin, url, version)

    @property
    def source(self) -> str:
        return self.label or str(self.path)


@dataclass
class _Pending:
    source: SourceFile
    content_hash: str
    title: str | None
    chunks: list[Chunk]
    is_new: bool


def discover(paths: Iterable[Path | str]) -> tuple[list[SourceFile], list[FileFailure]]:
    """Files under the given paths (hidden files and folders skipped), with their ids."""
    found: dict[str, SourceFile] = {}
    missing: list[FileFailure] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_file():
            files = [(path, path.name)]
        elif path.is_dir():
            files = [
                (f, f.relative_to(path).as_posix())
                for f in sorted(path.rglob("*"))
                if f.is_file() and not any(part.startswith(".") for part in f.relative_to(path).parts)
            ]
        else:
            missing.append(FileFailure(str(path), "no such file or folder"))
            continue
        for file, doc_id in files:
            found.setdefault(doc_id, SourceFile(file, doc_id))
    return list(found.values()), missing


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pipeline_fingerprint(settings: Settings) -> str:
    return f"v{PIPELINE_VERSION}/chunk{settings.chunk.tokens}-{settings.chunk.overlap}"


class Ingester:
    """One ingest run into one collection."""

    def __init__(self, settings: Settings, collection: str | None = None,
                 progress: Progress | None = None):
        self.settings = settings
        self.index: Index = open_index(settings, collection)
        self.summary = IngestSummary(collection=self.index.name)
        self.progress = progress or (lambda n=1, note=None: None)
        self.pipeline = pipeline_fingerprint(settings)
        self._splitter = None
        self._pending: list[_Pending] = []
        self._pending_chunks = 0
        # Big flushes: the embedder sorts each flush by length, so more texts, less padding.
        self._batch = max(settings.embed.batch_size * 16, 256)

    @property
    def splitter(self):
        if self._splitter is None:
            self._splitter = make_splitter(self.index.embedder.tokenizer, self.settings.chunk)
        return self._splitter

    def run(self, files: list[SourceFile], prune: bool = False) -> IngestSummary:
        started = time.perf_counter()
        states = self.index.document_states(
            [f.document_id for f in files] if len(files) <= 100 and not prune else None
        )
        for source in files:
            self._ingest_one(source, states.get(source.document_id))
            self.progress(1, source.document_id)
        self._flush()
        if prune:
            keep = {f.document_id for f in files}
            for doc_id in sorted(set(states) - keep):
                if self.index.delete_document(doc_id):
                    self.summary.removed += 1
        self.summary.seconds = round(time.perf_counter() - started, 3)
        return self.summary

    def _ingest_one(self, source: SourceFile, state: DocumentState | None) -> None:
        try:
            content_hash = file_hash(source.path)
        except OSError as exc:
            self._fail(source, f"cannot read file: {exc.strerror or exc}")
            return
        if (state and state.complete and state.content_hash == content_hash
                and state.pipeline == self.pipeline):
            self.summary.unchanged += 1
            return
        try:
            document = load_file(source.path, source.document_id, source=source.source)
        except LoadError as exc:
            self._fail(source, str(exc))  # whatever was indexed before stays as it was
            return
        chunks = chunk_document(document, self.splitter)
        self._pending.append(_Pending(source, content_hash, document.title, chunks, is_new=state is None))
        self._pending_chunks += len(chunks)
        if self._pending_chunks >= self._batch:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        texts = [embedding_text(c, p.title) for p in self._pending for c in p.chunks]
        vectors = self.index.embedder.encode(texts)
        offset = 0
        for item in self._pending:
            n = len(item.chunks)
            self.index.write_document(
                item.source.document_id, item.source.source, item.content_hash, self.pipeline,
                item.chunks, vectors[offset:offset + n], title=item.title, extra_metadata=item.source.metadata,
            )
            offset += n
            self.summary.chunks += n
            if item.is_new:
                self.summary.added += 1
            else:
                self.summary.updated += 1
        self._pending.clear()
        self._pending_chunks = 0

    def _fail(self, source: SourceFile, reason: str) -> None:
        self.summary.failed += 1
        self.summary.failures.append(FileFailure(source.source, reason))


def ingest_paths(settings: Settings, paths: Iterable[Path | str], collection: str | None = None,
                 prune: bool = False, on_progress: Progress | None = None,
                 on_start: Callable[[int], None] | None = None) -> IngestSummary:
    """Index files and folders into a collection; see the module docstring."""
    files, missing = discover(paths)
    if on_start:
        on_start(len(files))
    ingester = Ingester(settings, collection, on_progress)
    summary = ingester.run(files, prune=prune and not missing)
    for failure in missing:
        summary.failed += 1
        summary.failures.append(failure)
    return summary


def ingest_file(settings: Settings, path: Path | str, collection: str | None = None,
                document_id: str | None = None) -> IngestSummary:
    """Index one file under a given document id (uploads use this)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(path)
    return Ingester(settings, collection).run([SourceFile(path, document_id or path.name)])
