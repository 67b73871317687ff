"""Ingest: files -> loaders -> chunks -> embeddings -> the index, incrementally.

Document id = the file's path relative to the folder given (or its name, for a
single file), or an id given by the caller. A document whose bytes and
pipeline settings are unchanged and fully indexed is skipped; a changed one
has its chunks replaced; with ``prune`` the collection is made to mirror the
given paths exactly. Chunks of several documents are embedded together, so
the embedder always sees full batches.

Only regular files are read, and only after their size is checked; a folder is
walked without following links into other folders, and nothing under the
system folders (/proc, /sys, /dev) is ever read, however a link points there.
With ``within`` (the server's re-index), a file whose real path (links
resolved) is outside those folders is refused too.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from ingest.chunking import chunk_document, embedding_text, make_splitter
from ingest.index import DocumentState, Index, open_index
from ingest.loaders import MAX_FILE_BYTES, LoadError, load_file
from ingest.models import Chunk, FileFailure, IngestSummary
from tenor.config import Settings

PIPELINE_VERSION = "5"  # bump when loaders or chunking change how text is cut
Progress = Callable[..., None]  # progress(n=1, note=None)
SYSTEM_DIRS = ("/proc", "/sys", "/dev")  # kernel files: endless, blocking, or secret; never documents


def in_system_dir(path: Path) -> bool:
    return any(path.is_relative_to(folder) for folder in SYSTEM_DIRS)


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
            files = [(f, f.relative_to(path).as_posix()) for f in _walk(path) if f.is_file()]
        else:
            missing.append(FileFailure(str(path), "no such file or folder"))
            continue
        for file, doc_id in files:
            found.setdefault(doc_id, SourceFile(file, doc_id))
    return list(found.values()), missing


def _walk(folder: Path) -> list[Path]:
    """Every non-hidden entry below ``folder``, sorted; hidden and system folders and links
    to folders are not entered."""
    found = []
    for top, dirs, names in os.walk(folder):  # os.walk does not follow links into folders
        here = Path(top)
        dirs[:] = [d for d in dirs if not d.startswith(".") and not in_system_dir(here / d)]
        found += [here / n for n in names if not n.startswith(".")]
    return sorted(found)


def unreadable_reason(path: Path, within: list[Path] | None = None) -> str | None:
    """Why ``path`` must not be read (checked before opening it), or None."""
    real = path.resolve()
    if in_system_dir(real):
        return f"{real} is in a system folder ({', '.join(SYSTEM_DIRS)}); not read"
    if within is not None and not any(real.is_relative_to(folder) for folder in within):
        return "a link to a file outside the folders this server may index; not read"
    try:
        info = real.stat()
    except OSError as exc:
        return f"cannot read file: {exc.strerror or exc}"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file; not read"
    if info.st_size > MAX_FILE_BYTES:
        return f"file is {info.st_size / 2**20:.1f} MiB; the limit is {MAX_FILE_BYTES // 2**20} MiB"
    return None


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
                 progress: Progress | None = None, within: list[Path] | None = None):
        self.settings = settings
        self.within = within
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
        reason = unreadable_reason(source.path, self.within)
        if reason:
            self._fail(source, reason)  # whatever was indexed before stays as it was
            return
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
                 on_start: Callable[[int], None] | None = None,
                 within: list[Path] | None = None) -> IngestSummary:
    """Index files and folders into a collection; see the module docstring."""
    files, missing = discover(paths)
    if on_start:
        on_start(len(files))
    ingester = Ingester(settings, collection, on_progress, within)
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
