"""Tenor's document index: loaders, chunking, embeddings and Chroma.

The Python API the assistant and fine-tuning use:

    from ingest import search
    passages = search("how long is the warranty?", k=4, collection="larkfield", settings=settings)
"""

from ingest.models import DocumentInfo, IngestSummary, Passage

__all__ = ["DocumentInfo", "IngestSummary", "Passage", "search"]


def search(query: str, k: int = 4, collection: str | None = None, filters: dict | None = None,
           *, settings, mode: str = "hybrid") -> list[Passage]:
    """Top-k passages for ``query`` (best first). ``filters`` is a Chroma ``where``
    on chunk metadata (e.g. ``{"document_id": "warranty.pdf"}``); ``settings`` is
    the caller's ``tenor.config.Settings`` (the index never loads them itself);
    ``mode``: hybrid (BM25 and dense ranks fused) or dense."""
    from ingest.index import open_index

    return open_index(settings, collection).search(query, k=k, filters=filters, mode=mode)
