"""A local folder: files matching the include globs and none of the exclude ones.

Document ids are paths relative to the folder, as `tenor ingest FOLDER` gives them,
so a folder indexed by hand and then configured as a source keeps its ids. The
version stamp is the file's size and modification time: an unchanged re-sync
reads no file.
"""

from __future__ import annotations

from fnmatch import fnmatch
from pathlib import Path
from typing import Iterator

from ingest.pipeline import discover
from ingest.sources.base import Fetched, FetchError, Item, SourceError


class FolderSource:
    def __init__(self, settings):
        self.settings = settings
        self.name = settings.name
        self.root = Path(settings.path).expanduser()
        self._files: dict[str, Path] = {}

    def _wanted(self, relative: str) -> bool:
        include, exclude = self.settings.include, self.settings.exclude
        return any(_match(relative, g) for g in include) and not any(_match(relative, g) for g in exclude)

    def list_items(self, known: dict[str, dict]) -> Iterator[Item]:
        if not self.root.is_dir():
            raise SourceError(f"{self.root}: no such folder")
        files, _ = discover([self.root])
        prefix = self.settings.url_prefix
        for file in files:
            if not self._wanted(file.document_id):
                continue
            try:
                stat = file.path.stat()
            except OSError as exc:
                raise SourceError(f"{file.path}: {exc.strerror or exc}") from exc
            self._files[file.document_id] = file.path
            url = f"{prefix.rstrip('/')}/{file.document_id}" if prefix else None
            yield Item(file.document_id, url=url, version=f"{stat.st_size}-{stat.st_mtime_ns}")

    def fetch(self, item: Item, known: dict | None) -> Fetched:
        if known and known.get("version") == item.version and known.get("url") == item.url:
            return Fetched(unchanged=True)
        path = self._files[item.document_id]
        if not path.is_file():
            raise FetchError("vanished while syncing")
        return Fetched(path=path, suffix=path.suffix)


def _match(relative: str, pattern: str) -> bool:
    # "**/*" should also match files at the top level.
    return fnmatch(relative, pattern) or (pattern.startswith("**/") and fnmatch(relative, pattern[3:]))
