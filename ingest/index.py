"""The index: the only module that talks to Chroma.

One Chroma collection per profile holds every chunk, with its document's id,
source, content hash and chunk count in the chunk's metadata. That metadata is
the only record of what is indexed, so there is no second store to drift.

Writes are ordered so that a run killed at any point converges when re-run:
a document's new chunks are upserted under ids derived from its content hash,
then chunks with any other hash are deleted. A document counts as unchanged
only when every one of its chunks carries the current hash and none is missing.

Search is hybrid by default: Chroma's dense (HNSW) results and BM25 results
fused by rank (``ingest.fusion``). Chroma 1.5 has no sparse index or Search API
in local mode (embedded or ``chroma run``: both raise "not implemented", see
docs/ingest.md), so the BM25 index (``ingest.lexical``) is built in memory from
the texts Chroma stores. Every write ends by putting a fresh stamp in the
collection's metadata; a reader compares (stamp, count) with what its BM25
index was built from before each search and rebuilds when they differ. The
stamp is read before the texts, and written after them, so a write that races
a rebuild leaves a stamp the reader has not seen: the next search rebuilds.
Any process or replica converges this way, with no state of its own.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from urllib.parse import urlparse

from ingest.chunking import embedding_text
from ingest.embedder import Embedder, get_embedder
from ingest.fusion import reciprocal_rank_fusion
from ingest.lexical import LexicalIndex, tokenize
from ingest.models import Chunk, DocumentInfo, Passage
from ingest.query_batch import query_batcher
from tenor.config import Settings

_ADD_BATCH = 1000  # below Chroma's max batch size
_READ_PAGE = 5000
HYBRID_DEPTH = 20  # candidates each side contributes to the fusion, at least k
CONTENT_STAMP = "tenor_content_stamp"  # collection metadata: changes with every write


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
        self._lexical: tuple[tuple, LexicalIndex] | None = None  # (contents key, index)
        self._lexical_lock = threading.Lock()

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
    def search(self, query: str, k: int = 4, filters: dict | None = None,
               mode: str = "hybrid") -> list[Passage]:
        """The ``k`` best passages: ``hybrid`` fuses dense and BM25 ranks, ``dense`` is
        Chroma's vector search alone. ``score`` is the dense cosine either way."""
        if mode not in ("hybrid", "dense"):
            raise ValueError(f"search mode must be 'hybrid' or 'dense', not {mode!r}")
        if not query.strip():
            return []
        vector = query_batcher(self.embedder).encode(query).tolist()
        if mode == "dense":
            return self.search_vector(vector, k=k, filters=filters)
        return self._search_hybrid(query, vector, k, filters)

    def unmentioned(self, words: list[str]) -> list[str]:
        """The ``words`` no chunk of the collection holds (in any form stemming joins)."""
        if not words:
            return []
        lexical = self.lexical_index()
        return [w for w in words if not lexical.mentions(w)]

    def search_vector(self, vector: list[float], k: int = 4, filters: dict | None = None) -> list[Passage]:
        result = self._call(
            "search",
            lambda: self.collection.query(
                query_embeddings=[vector], n_results=max(1, k), where=_where(filters),
                include=["documents", "metadatas", "distances"],
            ),
        )
        return [
            _passage(chunk_id, text, meta, 1.0 - float(distance))  # cosine distance -> similarity
            for chunk_id, text, meta, distance in zip(
                result["ids"][0], result["documents"][0], result["metadatas"][0], result["distances"][0])
        ]

    def _search_hybrid(self, query: str, vector: list[float], k: int, filters: dict | None) -> list[Passage]:
        depth = max(k, HYBRID_DEPTH)
        dense = self.search_vector(vector, k=depth, filters=filters)
        lexical = self.lexical_index()
        bm25 = lexical.scores(query)
        allowed = self._ids_where(filters) if filters else None
        lexical_ranking = [chunk_id for chunk_id, _ in lexical.top(bm25, depth, allowed)]
        fused = reciprocal_rank_fusion([[p.chunk_id for p in dense], lexical_ranking])[:k]
        found = {p.chunk_id: p for p in dense}
        lexical_only = [chunk_id for chunk_id, _ in fused if chunk_id not in found]
        if lexical_only:
            found.update((p.chunk_id, p) for p in self._passages_by_id(lexical_only, vector))
        passages = []
        for chunk_id, fused_score in fused:
            passage = found.get(chunk_id)
            if passage is None:
                continue  # deleted after the BM25 index was built; the next search rebuilds it
            position = lexical.position.get(chunk_id)
            passage.lexical_score = round(float(bm25[position]), 4) if position is not None else 0.0
            passage.fused_score = round(fused_score, 6)
            passages.append(passage)
        return passages

    def _passages_by_id(self, ids: list[str], vector: list[float]) -> list[Passage]:
        """Passages for chunk ids, with their dense cosine to ``vector`` computed here."""
        import numpy as np

        result = self._call("read chunks", lambda: self.collection.get(
            ids=ids, include=["documents", "metadatas", "embeddings"]))
        query = np.asarray(vector, dtype=np.float32)
        passages = []
        for chunk_id, text, meta, embedding in zip(
                result["ids"], result["documents"], result["metadatas"], result["embeddings"]):
            embedding = np.asarray(embedding, dtype=np.float32)
            norms = float(np.linalg.norm(query) * np.linalg.norm(embedding)) or 1.0
            passages.append(_passage(chunk_id, text, meta, float(query @ embedding) / norms))
        return passages

    def _ids_where(self, filters: dict) -> set[str]:
        return set(self._call("filter chunks", lambda: self.collection.get(
            where=_where(filters), include=[]))["ids"])

    # -- the BM25 side, kept in step with the collection ------------------------------
    def _contents_key(self) -> tuple:
        """Changes whenever the collection's chunks do (see the module docstring)."""
        client = client_for(self.settings)

        def read():
            stamp = (client.get_collection(self.name, embedding_function=None).metadata or {}).get(CONTENT_STAMP)
            return stamp, self.collection.count()

        return self._call("read the collection's stamp", read)

    def lexical_index(self) -> LexicalIndex:
        """BM25 over the collection's current chunks, rebuilt when they changed."""
        current = self._lexical
        if current is not None and current[0] == self._contents_key():
            return current[1]
        with self._lexical_lock:  # one rebuild at a time; the key is read again, after any other
            key = self._contents_key()
            if self._lexical is None or self._lexical[0] != key:
                self._lexical = (key, self._build_lexical())
            return self._lexical[1]

    def headings(self) -> frozenset[tuple[str, str]]:
        """The (document id, section heading) pairs of the collection's chunks
        (("products.md", "Our E-Bike Lineup > Fold F1"), ...)."""
        return self.lexical_index().headings

    def _build_lexical(self) -> LexicalIndex:
        ids, tokens, headings = [], [], set()
        offset = 0
        while True:
            batch = self._call("read chunk texts", lambda: self.collection.get(
                include=["documents", "metadatas"], limit=_READ_PAGE, offset=offset))
            ids += batch["ids"]
            tokens += [tokenize(_searchable_text(text, meta))
                       for text, meta in zip(batch["documents"], batch["metadatas"])]
            headings |= {(meta.get("document_id", ""), meta["section"])
                         for meta in batch["metadatas"] if meta and meta.get("section")}
            if len(batch["ids"]) < _READ_PAGE:
                return LexicalIndex(ids, tokens, frozenset(headings))
            offset += _READ_PAGE

    def _mark_changed(self) -> None:
        """A fresh stamp in the collection's metadata: every reader's BM25 index is stale."""
        self._call("stamp the collection", lambda: self.collection.modify(
            metadata={**(self.collection.metadata or {}), CONTENT_STAMP: uuid.uuid4().hex}))

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

    def _iter_metadatas(self, where: dict | None, page: int = _READ_PAGE):
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
        self._mark_changed()

    def delete_document(self, document_id: str) -> bool:
        existed = bool(self._call(
            "find a document", lambda: self.collection.get(where={"document_id": document_id}, include=[], limit=1)
        )["ids"])
        if existed:
            self._call("delete a document", lambda: self.collection.delete(where={"document_id": document_id}))
            self._mark_changed()
        return existed


def _searchable_text(text: str | None, meta: dict | None) -> str:
    """What BM25 indexes: the text the chunk's embedding was made from (title, section, text)."""
    meta = meta or {}
    return embedding_text(Chunk(text or "", section=meta.get("section")), meta.get("title"))


def _passage(chunk_id: str, text: str | None, meta: dict | None, cosine: float) -> Passage:
    meta = dict(meta or {})
    return Passage(
        text=text or "",
        score=round(cosine, 6),
        dense_score=round(cosine, 6),
        document_id=meta.pop("document_id", ""),
        source=meta.pop("source", ""),
        section=meta.pop("section", None),
        page=meta.pop("page", None),
        chunk_id=chunk_id,
        metadata=meta,
    )


def _is_connection_error(exc: Exception) -> bool:
    import httpx

    text = f"{type(exc).__name__}: {exc}".lower()
    return isinstance(exc, (httpx.TransportError, ConnectionError)) or any(
        s in text for s in ("connection refused", "could not connect", "connecterror", "timed out")
    )
