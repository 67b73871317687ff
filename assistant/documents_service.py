"""Documents: upload, list, get, delete, re-index a folder. No HTTP here.

Everything goes through ``ingest`` (the only code that talks to Chroma), into
the same collection the chat searches, so a change is visible to the very next
chat request. Uploaded files are kept under ``$TENOR_HOME/uploads/<collection>/``
(the index stores text, not files) under a cleaned name that cannot escape it;
the collection is checked before anything touches the disk, and a failed
upload leaves the folder as it was.

Re-indexing reads a path on the server, so it is held to the folders the config
allows (``uploads/``, folder sources, ``server.reindex_roots``), never a system folder, and
never a hidden file or folder, whichever way the path is given (links included).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

from tenor.config import Settings
from tenor.uploads import UnusableName, stored_name


class DocumentError(Exception):
    """A client mistake (bad name, unreadable file); the message says which, ``param`` what."""

    def __init__(self, message: str, param: str | None = "file"):
        super().__init__(message)
        self.param = param


class DocumentNotFound(DocumentError):
    def __init__(self, message: str, param: str | None = None):
        super().__init__(message, param)


class PathNotAllowed(DocumentError):
    """A re-index path outside the folders this server may read."""


def safe_filename(name: str) -> str:
    """The name an upload is stored under (``tenor.uploads.stored_name``), as a client error if none."""
    try:
        return stored_name(name)
    except UnusableName as exc:
        raise DocumentError(str(exc)) from None


class DocumentsService:
    def __init__(self, settings: Settings, index_for: Callable[[str], object]):
        self.settings = settings
        self.index_for = index_for

    @property
    def uploads_root(self) -> Path:
        return self.settings.home / "uploads"

    @staticmethod
    def check_collection(collection: str) -> None:
        from ingest.index import IndexStoreError, validate_collection_name

        try:
            validate_collection_name(collection)
        except IndexStoreError as exc:
            raise DocumentError(str(exc), param="collection") from None

    def uploads_dir(self, collection: str) -> Path:
        """``uploads/<collection>``, once the name is known to be a collection name that stays inside."""
        self.check_collection(collection)
        folder = self.uploads_root / collection
        if not folder.resolve().is_relative_to(self.uploads_root.resolve()):
            raise DocumentError(f"collection {collection!r} does not name a folder inside uploads/",
                                param="collection")
        return folder

    def upload(self, collection: str, filename: str, data: BinaryIO) -> dict:
        """Store and index a file. On any failure the index and the folder are as they were:
        the new bytes go to a hidden temporary file, and a file they replace is put back."""
        from ingest.pipeline import ingest_file

        name = safe_filename(filename)
        folder = self.uploads_dir(collection)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / name
        incoming = previous = None
        placed = False
        try:
            with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{name}.", suffix=".incoming",
                                             delete=False) as out:
                incoming = Path(out.name)
                shutil.copyfileobj(data, out)
            if target.exists():
                os.replace(target, incoming.with_suffix(".previous"))
                previous = incoming.with_suffix(".previous")
            os.replace(incoming, target)
            placed = True
            summary = ingest_file(self.settings, target, collection, document_id=name)
            if summary.failed:  # the index is unchanged: a failed load writes nothing
                raise DocumentError(f"{name}: {summary.failures[0].reason}")
        except BaseException:
            if previous is not None:
                os.replace(previous, target)
            elif placed:
                target.unlink(missing_ok=True)
            if incoming is not None:
                incoming.unlink(missing_ok=True)
            raise
        if previous is not None:
            previous.unlink()
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
        try:
            uploaded = self.uploads_dir(collection) / safe_filename(document_id)
        except DocumentError:  # indexed from elsewhere (`tenor ingest`), never uploaded
            return
        if uploaded.name == document_id:
            uploaded.unlink(missing_ok=True)

    def reindex_roots(self) -> list[Path]:
        """The folders ``reindex`` may read, links resolved: uploads/, the profiles' folder sources
        (read as `tenor sync` reads them) and ``server.reindex_roots``."""
        home = self.settings.home
        roots = [self.uploads_root]
        roots += [Path(s.path).expanduser() for _, s in self.settings.sources() if s.type == "folder"]
        roots += [home / Path(p).expanduser() for p in self.settings.server.reindex_roots]
        return [root.resolve() for root in roots]

    def allowed_path(self, path: str) -> tuple[Path, Path]:
        """The real path to re-index and the allowed root it is in; refused before anything is read."""
        given = Path(path).expanduser()
        if not given.is_absolute():
            raise DocumentError(f"give an absolute path on the server, not {path!r}", param="path")
        from ingest.pipeline import SYSTEM_DIRS, in_system_dir

        real = given.resolve()
        if in_system_dir(real):
            raise PathNotAllowed(f"{path} is in a system folder ({', '.join(SYSTEM_DIRS)}), which is never indexed",
                                 param="path")
        root = next((r for r in self.reindex_roots() if real.is_relative_to(r)), None)
        if root is None:
            raise PathNotAllowed(
                f"{path} is outside the folders this server may index: "
                f"{', '.join(str(r) for r in self.reindex_roots())} (add one to server.reindex_roots)",
                param="path")
        if any(part.startswith(".") for part in real.relative_to(root).parts):
            raise DocumentError(f"{path} is hidden (a name starting with '.'): hidden files and folders "
                                "are never indexed", param="path")
        if not real.exists():
            raise DocumentNotFound(f"no such file or folder on the server: {path}", param="path")
        return real, root

    def reindex(self, collection: str, path: str, prune: bool = False) -> dict:
        from ingest.pipeline import ingest_paths

        self.check_collection(collection)
        real, root = self.allowed_path(path)
        return ingest_paths(self.settings, [real], collection, prune=prune, within=[root]).to_dict()

    @staticmethod
    def _shape(collection: str, info) -> dict:
        return {"id": info.document_id, "source": info.source, "content_hash": info.content_hash,
                "chunks": info.chunks, "ingested_at": info.ingested_at, "title": info.title,
                "collection": collection}
