"""Where documents live: a source lists its items with a version stamp and fetches one.

A new kind of source is one module here with a class that has ``list_items`` and
``fetch``, and one line in ``open_source``. ``ingest.sync`` runs any of them:

- ``list_items(known)`` yields an ``Item`` per document the source holds now. It
  raises ``SourceError`` when it cannot list everything (a sitemap that fails,
  an unreadable export): then nothing is pruned.
- ``fetch(item, known)`` returns a ``Fetched``: new content (bytes or a local
  file), ``unchanged`` (the version stamp or an HTTP 304 says so, at the cost of
  one request at most), or ``gone`` (HTTP 404/410). It raises ``FetchError``
  for that item alone: the document keeps what it had.

``known`` is what the index holds for the source's documents (id -> the stored
metadata: ``url``, ``version``, ``etag``, ...), so a source needs no state of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Protocol


class SourceError(Exception):
    """The source could not be listed completely; the message says why."""


class FetchError(Exception):
    """One item could not be fetched; the message says why."""


@dataclass
class Item:
    document_id: str
    url: str | None = None
    version: str | None = None  # a stamp from the listing; equal to the stored one = unchanged


@dataclass
class Fetched:
    content: bytes | None = None
    path: Path | None = None  # a local file instead of content
    suffix: str = ".html"  # which loader reads it
    unchanged: bool = False
    gone: bool = False
    metadata: dict = field(default_factory=dict)  # stored with the document (etag, links, ...)


class Source(Protocol):
    name: str

    def list_items(self, known: dict[str, dict]) -> Iterator[Item]: ...

    def fetch(self, item: Item, known: dict | None) -> Fetched: ...


def open_source(settings) -> Source:
    """The source for one entry of a profile's ``sources`` list."""
    if settings.type == "folder":
        from ingest.sources.folder import FolderSource

        return FolderSource(settings)
    if settings.type == "jsonl":
        from ingest.sources.jsonl import JsonlSource

        return JsonlSource(settings)
    from ingest.sources.web import WebSource

    return WebSource(settings)
