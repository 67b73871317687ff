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

from ingest.sources.base import Fetched, FetchError, Item, Source, SourceError

__all__ = ["Fetched", "FetchError", "Item", "Source", "SourceError", "open_source"]


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
