"""An export of articles, one JSON object a line: the common denominator of help-desk exports.

Fields: ``id`` (required), ``body`` (required; HTML, Markdown or text), ``title``,
``url`` (the article's public page, linked from citations) and ``updated_at``
(the version stamp; without it, a hash of the article). A line that cannot be
read is reported with its line number and the run prunes nothing.
"""

from __future__ import annotations

import hashlib
import html
import json
from pathlib import Path
from typing import Iterator

from ingest.sources.base import Fetched, Item, SourceError

_SUFFIX = {"html": ".html", "markdown": ".md", "text": ".txt"}


class JsonlSource:
    def __init__(self, settings):
        self.settings = settings
        self.name = settings.name
        self.path = Path(settings.path).expanduser()
        self._articles: dict[str, dict] = {}

    def list_items(self, known: dict[str, dict]) -> Iterator[Item]:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise SourceError(f"{self.path}: cannot read the export: {exc}") from exc
        problems = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                article = json.loads(line)
                doc_id = str(article["id"]).strip()
                body = article["body"]
                if not doc_id or not isinstance(body, str):
                    raise ValueError("'id' must be non-empty and 'body' a string")
            except (ValueError, KeyError, TypeError) as exc:
                problems.append(f"{self.path}:{number}: {exc}")
                continue
            self._articles[doc_id] = article
            version = article.get("updated_at") or hashlib.sha256(line.encode()).hexdigest()[:16]
            yield Item(doc_id, url=article.get("url"), version=str(version))
        if problems:
            raise SourceError("; ".join(problems))

    def fetch(self, item: Item, known: dict | None) -> Fetched:
        if known and known.get("version") == item.version:
            return Fetched(unchanged=True)
        article = self._articles[item.document_id]
        body, title = article["body"], article.get("title")
        kind = self.settings.body_format
        if kind == "auto":
            kind = "html" if body.lstrip().startswith("<") else "markdown"
        if title and kind == "markdown":
            body = f"# {title}\n\n{body}"
        elif title and kind == "html":
            safe = html.escape(title)
            body = f"<html><head><title>{safe}</title></head><body><h1>{safe}</h1>{body}</body></html>"
        elif title:
            body = f"{title}\n\n{body}"
        return Fetched(content=body.encode("utf-8"), suffix=_SUFFIX[kind])
