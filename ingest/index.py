"""The index: the only module that talks to Chroma.

One Chroma collection per profile holds every chunk, with its document's id,
source, content hash and chunk count in the chunk's metadata. That metadata is
the only record of what is indexed, so there is no second store to drift.

Writes are ordered so that a run killed at any point converges when re-run:
a document's new chunks are upserted under ids derived from its content hash,
then chunks with any other hash are deleted. A document counts as unchanged
only when every one of its chunks carries the current hash and none is missing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from urllib.parse import urlparse

from ingest.embedder import Embedder, get_embedder
from ingest.models import Chunk, DocumentInfo, Passage
from ingest.query_batch import query_batcher
from tenor.config import Settings

_ADD_BATCH = 1000  # below Chroma's max batch size


class IndexStoreError(Exception):
    """The index cannot do what was asked; the message says why."""


class IndexUnavailable(IndexStoreError):
    """Chroma cannot be reached (server down, folder unreadable)."""


@dataclass
class DocumentState:
    content_hash: str
    pipeline: str
    chunk_count: int  # what the document says it has
    chunks_present: int  # what the collection holds

    @property
    def complete(self) -> bool:
        return self.chunks_present == self.chunk_count


_client_lock = threading.Lock()


@lru_cache(maxsize=8)
def _client(url: str | None, path: str | None):
    import chromadb

    chroma_settings = chromadb.Settings(anonymized_telemetry=False)
    if url:
        parsed = urlparse(url if "://" in url else f"http://{url}")
        return chromadb.HttpClient(
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or (443 if parsed.scheme == "https" else 8000),
            ssl=parsed.scheme == "https",
            settings=chroma_settings,
        )
    return chromadb.PersistentClient(path=path, settings=chroma_settings)


def client_for(settings: Settings):
    with _client_lock:
        try:
            if settings.chroma_url:
                return _client(settings.chroma_url, None)
            settings.index_dir.mkdir(parents=True, exist_ok=True)
            return _client(None, str(settings.index_dir))
        except Exception as exc:
            where = settings.chroma_url or settings.index_dir
            raise IndexUnavailable(f"cannot open the Chroma index at {where}: {exc}") from exc


def validate_collection_name(name: str) -> str:
    import re

    if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]", name or ""):
        raise IndexStoreError(
            f"invalid collection name {name!r}: use 3-512 characters of letters, digits, "
            "'.', '_' or '-', starting and ending with a letter or digit"
        )
    return name


def open_index(settings: Settings, collection: str | None = None) -> "Index":
    name = validate_collection_name(settings.collection_for(collection))
    return Index(settings, name)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _where(filters: dict | None) -> dict | None:
    """Plain ``{"key": value, ...}`` filters become Chroma's ``$and`` form."""
    if not filters:
        return None
    if len(filters) > 1 and not any(k.startswith("$") for k in filters):
        return {"$and": [{k: v} for k, v in filters.items()]}
    return filters


class Index:
    def __init__(self, settings: Settings, name: str):
        self.settings = settings
        self.name = name
        self._collection = None
        self._embedder: Embedder | None = None

    # -- plumbing -------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = get_embedder(self.settings.embed, self.settings.models_dir)
        return self._embedder

    @property
    def collection(self):
        if self._collection is None:
            self._collection = self._open_collection()
        return self._collection

    def _open_collection(self):
        client = client_for(self.settings)
        try:
            # embedding_function=None: Chroma must never fetch its default ONNX model.
            collection = client.get_or_create_collection(
                self.name,
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"embed_model": self.settings.embed.model},
            )
        except Exception as exc:
            raise IndexUnavailable(f"cannot open collection {self.name!r}: {exc}") from exc
        recorded = (collection.metadata or {}).get("embed_model")
        if recorded and recorded != self.settings.embed.model:
            raise IndexStoreError(
                f"collection {self.name!r} was built with embedding model {recorded!r} but "
                f"{self.settings.embed.model!r} is configured; configure {recorded!r}, or delete "
                f"the collection's documents and re-ingest"
            )
        return collection

    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except IndexStoreError:
            raise
        except Exception as exc:
            self._collection = None  # reopen on the next call (e.g. a restarted Chroma server)
            if _is_connection_error(exc):
                raise IndexUnavailable(f"Chroma is unreachable while trying to {what}: {exc}") from exc
            raise IndexStoreError(f"could not {what} in collection {self.name!r}: {exc}") from exc

    def ping(self) -> None:
        """Raise ``IndexUnavailable`` unless Chroma answers."""
        client = client_for(self.settings)
        try:
            client.heartbeat()
        except Exception as exc:
            raise IndexUnavailable(f"Chroma does not answer: {exc}") from exc

    def count(self) -> int:
        return self._call("count chunks", lambda: self.collection.count())

    # -- search -----------------------------------------------------------------
    def search(self, query: str, k: int = 4, filters: dict | None = None) -> list[Passage]:
        if not query.strip():
            return []
        vector = query_batcher(self.embedder).encode(query)
        return self.search_vector(vector.tolist(), k=k, filters=filters)

    def search_vector(self, vector: list[float], k: int = 4, filters: dict | None = None) -> list[Passage]:
        result = self._call(
            "search",
            lambda: self.collection.query(
                query_embeddings=[vector], n_results=max(1, k), where=_where(filters),
                include=["documents", "metadatas", "distances"],
            ),
        )
        passages = []
        for chunk_id, text, meta, distance in zip(
            result["ids"][0], result["documents"][0], result["metadatas"][0], result["distances"][0]
        ):
            meta = dict(meta or {})
            passages.append(Passage(
                text=text or "",
                score=round(1.0 - float(distance), 6),  # cosine distance -> similarity
                document_id=meta.pop("document_id", ""),
                source=meta.pop("source", ""),
                section=meta.pop("section", None),
                page=meta.pop("page", None),
                chunk_id=chunk_id,
                metadata=meta,
            ))
        return passages

    # -- documents ----------------------------------------------------------------
    def document_states(self, document_ids: list[str] | None = None) -> dict[str, DocumentState]:
        """What the index holds per document (all documents, or just these)."""
        if document_ids is not None and not document_ids:
            return {}
        where = None
        if document_ids is not None and len(document_ids) <= 100:
            where = {"document_id": {"$in": list(document_ids)}}
        states: dict[str, DocumentState] = {}
        for meta in self._iter_metadatas(where):
            doc_id = meta.get("document_id")
            if doc_id is None:
                continue
            state = states.get(doc_id)
            if state is None:
                states[doc_id] = DocumentState(
                    meta.get("content_hash", ""), meta.get("pipeline", ""), int(meta.get("chunk_count", -1)), 1
                )
            else:
                state.chunks_present += 1
                if meta.get("content_hash") != state.content_hash:
                    state.chunk_count = -1  # mixed hashes: an interrupted replacement
        return states

    def _iter_metadatas(self, where: dict | None, page: int = 5000):
        offset = 0
        while True:
            batch = self._call(
                "list chunks",
                lambda: self.collection.get(where=where, include=["metadatas"], limit=page, offset=offset),
            )
            metas = batch["metadatas"] or []
            yield from metas
            if len(metas) < page:
                return
            offset += page

    def documents_from(self, origin: str) -> dict[str, dict]:
        """The documents a source (``origin``) wrote: id -> the first chunk's metadata."""
        found: dict[str, dict] = {}
        for meta in self._iter_metadatas({"origin": origin}):
            found.setdefault(meta.get("document_id", ""), meta)
        found.pop("", None)
        return found

    def list_documents(self) -> list[DocumentInfo]:
        docs: dict[str, DocumentInfo] = {}
        for meta in self._iter_metadatas(None):
            doc_id = meta.get("document_id")
            if doc_id is None:
                continue
            info = docs.get(doc_id)
            if info is None:
                docs[doc_id] = DocumentInfo(
                    document_id=doc_id, source=meta.get("source", ""),
                    content_hash=meta.get("content_hash", ""), chunks=1,
                    ingested_at=meta.get("ingested_at", ""), title=meta.get("title"),
                )
            else:
                info.chunks += 1
        return sorted(docs.values(), key=lambda d: d.document_id)

    def get_document(self, document_id: str) -> DocumentInfo | None:
        result = self._call(
            "get a document",
            lambda: self.collection.get(where={"document_id": document_id}, include=["metadatas"]),
        )
        metas = result["metadatas"] or []
        if not metas:
            return None
        first = metas[0]
        return DocumentInfo(
            document_id=document_id, source=first.get("source", ""),
            content_hash=first.get("content_hash", ""), chunks=len(metas),
            ingested_at=first.get("ingested_at", ""), title=first.get("title"),
        )

    def document_chunks(self, document_id: str) -> list[Passage]:
        result = self._call(
            "read a document's chunks",
            lambda: self.collection.get(where={"document_id": document_id}, include=["documents", "metadatas"]),
        )
        rows = sorted(
            zip(result["ids"], result["documents"], result["metadatas"]),
            key=lambda row: row[2].get("chunk_index", 0),
        )
        return [
            Passage(text=text, score=1.0, document_id=document_id, source=meta.get("source", ""),
                    section=meta.get("section"), page=meta.get("page"), chunk_id=chunk_id)
            for chunk_id, text, meta in rows
        ]

    def write_document(
        self,
        document_id: str,
        source: str,
        content_hash: str,
        pipeline: str,
        chunks: list[Chunk],
        embeddings,
        title: str | None = None,
        extra_metadata: dict | None = None,
    ) -> None:
        """Replace a document's chunks: upsert the new ones, then drop any other."""
        if len(chunks) != len(embeddings):
            raise ValueError("one embedding per chunk")
        stamp = _now()
        ids, metadatas = [], []
        for i, chunk in enumerate(chunks):
            ids.append(f"{document_id}#{content_hash[:16]}:{i}")
            meta = {
                **(extra_metadata or {}),
                "document_id": document_id, "source": source, "content_hash": content_hash,
                "pipeline": pipeline, "chunk_index": i, "chunk_count": len(chunks),
                "ingested_at": stamp, "section": chunk.section, "page": chunk.page, "title": title,
            }
            metadatas.append({k: v for k, v in meta.items() if v is not None})
        vectors = [list(map(float, v)) for v in embeddings]
        for start in range(0, len(ids), _ADD_BATCH):
            end = start + _ADD_BATCH
            self._call("write chunks", lambda: self.collection.upsert(
                ids=ids[start:end], embeddings=vectors[start:end],
                documents=[c.text for c in chunks[start:end]], metadatas=metadatas[start:end],
            ))
        self._call("drop stale chunks", lambda: self.collection.delete(
            where={"$and": [{"document_id": document_id}, {"content_hash": {"$ne": content_hash}}]}
        ))

    def delete_document(self, document_id: str) -> bool:
        existed = bool(self._call(
            "find a document", lambda: self.collection.get(where={"document_id": document_id}, include=[], limit=1)
        )["ids"])
        if existed:
            self._call("delete a document", lambda: self.collection.delete(where={"document_id": document_id}))
        return existed


def _is_connection_error(exc: Exception) -> bool:
    import httpx

    text = f"{type(exc).__name__}: {exc}".lower()
    return isinstance(exc, (httpx.TransportError, ConnectionError)) or any(
        s in text for s in ("connection refused", "could not connect", "connecterror", "timed out")
    )
