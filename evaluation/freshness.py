"""`tenor eval --freshness`: edit a document, re-index it through the API, ask again.

Shows the premise that facts live in the index: the next answer follows the
edit with no retraining and no restart. The original is re-uploaded at the end.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from evaluation.runner import EvalError, TenorClient
from tenor.uploads import UnusableName, stored_name


def load_spec(path: Path) -> dict:
    """JSON: ``document`` (its id), ``file`` (relative to the spec), ``find``,
    ``replace``, ``question``."""
    spec = json.loads(Path(path).read_text())
    missing = {"document", "file", "find", "replace", "question"} - set(spec)
    if missing:
        raise EvalError(f"{path}: missing {', '.join(sorted(missing))}")
    spec["file"] = str((Path(path).parent / spec["file"]).resolve())
    return spec


def check_target(client: TenorClient, profile: str, spec: dict) -> bytes:
    """The spec's file, once the profile's collection is known to hold it as it is: the check uploads
    an edited copy, then this file as the original, so a document the collection does not hold, or
    holds in another version, would be added or replaced (the sample's spec, the default, against
    another company's profile would put Larkfield's products.md among its documents)."""
    where = f"--freshness-spec names {spec['document']!r} ({spec['file']})"
    try:
        original = Path(spec["file"]).read_bytes()
    except OSError as exc:
        raise EvalError(f"{where}: cannot read the file ({exc.strerror or exc})") from exc
    if not _uploads_replace(spec["document"]):
        raise EvalError(f"{where}: the check uploads it, and an upload is stored under a plain file name (letters, "
                        "digits, '.', '_', '-', spaces; no folder; at most 200 characters), so it would not "
                        "replace this document; name one ingested at the top of its folder")
    stored = client.document(profile, spec["document"])
    if stored is None:
        raise EvalError(f"{where}, which profile {profile!r}'s collection does not hold: the check edits one of "
                        "its documents and puts it back; name one of them in a spec of your own "
                        "(README: Your own company)")
    if stored.get("content_hash") != hashlib.sha256(original).hexdigest():
        raise EvalError(f"{where}, but profile {profile!r}'s collection holds another version of it: the check "
                        "would put that file back in its place; point the spec's file at the document as indexed "
                        "(a page a web or JSONL source synced has no such file: name an ingested document)")
    return original


def _uploads_replace(document: str) -> bool:
    """Whether an upload under this id is stored as this id ("policies/returns.md" is stored as "returns.md")."""
    try:
        return stored_name(document) == document
    except UnusableName:
        return False


def check_freshness(client: TenorClient, profile: str, spec: dict, max_tokens: int = 200) -> dict:
    original = check_target(client, profile, spec)
    text = original.decode("utf-8")
    if spec["find"] not in text:
        raise EvalError(f"{spec['file']}: the text to replace, {spec['find']!r}, is not in the document")
    question = [{"role": "user", "content": spec["question"]}]

    def ask():
        return client.chat(profile, question, True, max_tokens, seed=0)

    before = ask().answer
    client.upload(profile, spec["document"], text.replace(spec["find"], spec["replace"]).encode("utf-8"))
    try:
        reply = ask()
    finally:
        client.upload(profile, spec["document"], original)
    after = reply.answer
    grounded_on_edit = any(spec["replace"] in c.get("text", "") for c in reply.citations)
    passed = spec["replace"] in after and spec["find"] not in after
    verdict = ("the answer quotes the edited fact" if passed else
               "retrieval returned the edited passage, but the answer did not quote it" if grounded_on_edit
               else f"the question was refused ({reply.outcome})" if reply.outcome in ("no_answer", "refused")
               else "the edited passage was not among the answer's citations")
    return {**spec, "before": before, "after": after, "retrieved_edit": grounded_on_edit,
            "passed": passed, "verdict": verdict}
