"""The name an uploaded file is stored and indexed under: one rule for the server and the eval.

The server (``assistant.documents_service``) stores an upload under this name; ``tenor eval
--freshness`` uploads a document back under its id, so it needs the same rule to know whether
that upload replaces the document or adds another. Pure Python.
"""

from __future__ import annotations

import re

_ODD = re.compile(r"[^A-Za-z0-9._ -]+")
MAX_NAME = 200


class UnusableName(ValueError):
    """A name no upload can be stored under; the message says why and what to do."""


def stored_name(name: str) -> str:
    """The file's own name with any folder part and odd characters removed, cut to ``MAX_NAME``."""
    base = re.split(r"[\\/]", name or "")[-1].strip()
    if base.startswith("."):
        raise UnusableName(f"hidden file name {name!r}: upload the file under a name that does not start with '.'")
    base = _ODD.sub("_", base).strip(" .")
    if not base:
        raise UnusableName(f"unusable file name {name!r}: give the file a plain name like 'warranty.pdf'")
    return base[:MAX_NAME]
