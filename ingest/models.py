"""The records that flow through ingest: loaded documents, chunks, passages."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Section:
    """A run of a document's text under one heading (or one page of a PDF)."""

    text: str
    heading: str | None = None
    page: int | None = None


@dataclass
class LoadedDocument:
    document_id: str
    source: str  # the path (or name) the document came from, for display
    sections: list[Section]
    title: str | None = None

    @property
    def text(self) -> str:
        return "\n\n".join(s.text for s in self.sections)


@dataclass
class Chunk:
    text: str
    section: str | None = None
    page: int | None = None


@dataclass
class Passage:
    """A retrieved chunk: what search returns and what the assistant grounds on."""

    text: str
    score: float  # cosine similarity, higher is closer (= dense_score; what min_score gates)
    document_id: str
    source: str
    section: str | None = None
    page: int | None = None
    chunk_id: str = ""
    metadata: dict = field(default_factory=dict)
    dense_score: float | None = None  # cosine similarity to the query
    lexical_score: float | None = None  # BM25; 0 when no query term is in the passage
    fused_score: float | None = None  # reciprocal rank fusion of both ranks (hybrid search only)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class DocumentInfo:
    document_id: str
    source: str
    content_hash: str
    chunks: int
    ingested_at: str
    title: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class FileFailure:
    path: str
    reason: str


@dataclass
class IngestSummary:
    collection: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: int = 0
    chunks: int = 0  # chunks written in this run
    seconds: float = 0.0
    failures: list[FileFailure] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SyncSummary(IngestSummary):
    """One source's sync: an ingest summary, plus the source's own facts."""

    source: str = ""
    requests: int | None = None  # HTTP requests made (web sources)
    complete: bool = True  # everything was listed and fetched, so pruning ran
