"""Documents: upload, list, get, delete, re-index a folder. No HTTP here.

Everything goes through ``ingest`` (the only code that talks to Chroma), into
the same collection the chat searches, so a change is visible to the very next
chat request. Uploaded files are kept under ``$TENOR_HOME/uploads/<collection>/``
(the index stores text, not files) under a cleaned name that cannot escape it.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import BinaryIO, Callable

from tenor.config import Settings

_SAFE = re.compile(r"[^A-Za-z0-9._ -]+")


class DocumentError(Exception):
    """A client mistake (bad name, unreadable file); the message says which."""


class DocumentNotFound(DocumentError):
    pass


def safe_filename(name: str) -> str:
    """The file's own name with any directory part and odd characters removed."""
    base = re.split(r"[\\/]", name or "")[-1].strip()
    base = _SAFE.sub("_", base).strip(" .")
    if not base or base.startswith("."):
        raise DocumentError(f"unusable file name {name!r}: give the file a plain name like 'warranty.pdf'")
    return base[:200]


class DocumentsService:
    def __init__(self, settings: Settings, index_for: Callable[[str], object]):
        self.settings = settings
        self.index_for = index_for

    def uploads_dir(self, collection: str) -> Path:
        return self.settings.home / "uploads" / collection

    def upload(self, collection: str, filename: str, data: BinaryIO) -> dict:
        from ingest.pipeline import ingest_file

        name = safe_filename(filename)
        folder = self.uploads_dir(collection)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / name
        existed = target.exists()
        with target.open("wb") as out:
            shutil.copyfileobj(data, out)
        summary = ingest_file(self.settings, target, collection, document_id=name)
        if summary.failed:  # the index is unchanged: a failed load writes nothing
            if not existed:
                target.unlink(missing_ok=True)
            raise DocumentError(f"{name}: {summary.failures[0].reason}")
        info = self.get(collection, name)
        return {**info, "status": "updated" if summary.updated else "unchanged" if summary.unchanged else "added"}

    def list(self, collection: str) -> list[dict]:
        return [self._shape(collection, d) for d in self.index_for(collection).list_documents()]

    def get(self, collection: str, document_id: str) -> dict:
        info = self.index_for(collection).get_document(document_id)
        if info is None:
            raise DocumentNotFound(f"no document {document_id!r} in collection {collection!r}")
        return self._shape(collection, info)

    def delete(self, collection: str, document_id: str) -> None:
        if not self.index_for(collection).delete_document(document_id):
            raise DocumentNotFound(f"no document {document_id!r} in collection {collection!r}")
        uploaded = self.uploads_dir(collection) / safe_filename(document_id)
        if uploaded.name == document_id:
            uploaded.unlink(missing_ok=True)

    def reindex(self, collection: str, path: str, prune: bool = False) -> dict:
        from ingest.pipeline import ingest_paths

        folder = Path(path).expanduser()
        if not folder.exists():
            raise DocumentNotFound(f"no such file or folder on the server: {path}")
        return ingest_paths(self.settings, [folder], collection, prune=prune).to_dict()

    @staticmethod
    def _shape(collection: str, info) -> dict:
        return {"id": info.document_id, "source": info.source, "content_hash": info.content_hash,
                "chunks": info.chunks, "ingested_at": info.ingested_at, "title": info.title,
                "collection": collection}
