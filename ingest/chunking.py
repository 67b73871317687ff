"""Chunking: sections -> chunks sized in the embedder's own tokens.

Each section (a heading's text, or a PDF page) is split on its own, so a chunk
never straddles two sections and always knows its heading and page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingest.models import Chunk, LoadedDocument
from tenor.config import ChunkSettings
from tenor.evidence import TABLE_ROW

if TYPE_CHECKING:  # langchain loads in seconds; search needs embedding_text, not the splitter
    from langchain_text_splitters import RecursiveCharacterTextSplitter


def make_splitter(tokenizer, settings: ChunkSettings) -> RecursiveCharacterTextSplitter:
    """``tokenizer``: a transformers tokenizer, or a ``tokenizers.Tokenizer`` (the ONNX
    embedder's, no transformers needed); both count the same tokens."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    kwargs = dict(
        chunk_size=settings.tokens,
        chunk_overlap=min(settings.overlap, settings.tokens // 2),
        separators=["\n\n", "\n", ". ", "; ", ", ", " ", ""],
    )
    if type(tokenizer).__module__.startswith("tokenizers"):
        return RecursiveCharacterTextSplitter(
            length_function=lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids), **kwargs
        )
    return RecursiveCharacterTextSplitter.from_huggingface_tokenizer(tokenizer, **kwargs)


def chunk_document(document: LoadedDocument, splitter: RecursiveCharacterTextSplitter) -> list[Chunk]:
    """A chunk that starts inside a table starts with the table's header row again, so
    its rows keep their column names (and its first row is not taken for a header)."""
    chunks: list[Chunk] = []
    for section in document.sections:
        headers = _table_headers(section.text)
        cursor = 0
        for piece in splitter.split_text(section.text):
            start = section.text.find(piece, cursor)  # pieces come in order (overlapping, never backwards)
            cursor = start + 1 if start >= 0 else cursor
            piece = piece.strip()
            if not piece:
                continue
            header = headers.get(section.text.count("\n", 0, start)) if start >= 0 else None
            if header and not piece.startswith(header):
                piece = f"{header}\n{piece}"
            chunks.append(Chunk(text=piece, section=section.heading, page=section.page))
    return chunks


def _table_headers(text: str) -> dict[int, str]:
    """Each table row's header (the first row of its table), by the row's line number."""
    headers: dict[int, str] = {}
    header = None
    for number, line in enumerate(text.split("\n")):  # numbered as chunk_document counts "\n"
        if TABLE_ROW.match(line):
            header = header or line.strip()
            headers[number] = header
        else:
            header = None
    return headers


def embedding_text(chunk: Chunk, title: str | None) -> str:
    """What gets embedded: the chunk with its title and section, so that a chunk
    saying "Price: $1,799" under "Fold F1" is found by a question about the Fold F1."""
    section = chunk.section or ""
    context = section if title and section.startswith(title) else " > ".join(p for p in (title, section) if p)
    return f"{context}\n{chunk.text}" if context else chunk.text
