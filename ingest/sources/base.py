"""What every source is: the interface ``ingest.sources`` documents, and its records."""

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
