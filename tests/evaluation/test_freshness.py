"""The freshness check's verdict, with a stand-in client (the real server: test_eval_server.py)."""

import hashlib
from types import SimpleNamespace

import pytest

from evaluation.freshness import check_freshness
from evaluation.runner import EvalError

REFUSAL = "That one isn't in our help pages."
BOARDROOM = "The boardroom costs £55 an hour."  # the document, as the collection holds it


class Client:
    """Answers the freshness question with ``answers`` in turn, citing ``cited`` (passage texts), with
    the outcome the answer policy reports (``no_answer`` for the refusal, else ``extract``)."""

    def __init__(self, answers: list[str], cited: list[list[str]], stored: str | None = BOARDROOM):
        self.replies = [SimpleNamespace(answer=a, citations=[{"text": t} for t in c],
                                        outcome="no_answer" if a == REFUSAL else "extract")
                        for a, c in zip(answers, cited)]
        self.uploaded: list[bytes] = []
        self.stored = stored  # the collection's copy of the document (None: it has none)

    def document(self, profile, document):
        if self.stored is None:
            return None
        return {"id": document, "content_hash": hashlib.sha256(self.stored.encode()).hexdigest()}

    def chat(self, profile, messages, retrieval, max_tokens, seed=None):
        return self.replies.pop(0)

    def upload(self, profile, document, content: bytes):
        self.uploaded.append(content)


def test_the_verdict_says_whether_the_question_was_refused_the_edit_not_cited_or_not_quoted(tmp_path):
    doc = tmp_path / "prices.md"
    doc.write_text(BOARDROOM)
    spec = {"document": "prices.md", "file": str(doc), "find": "£55", "replace": "£59",
            "question": "What does the big boardroom cost by the hour?"}
    refused = check_freshness(Client([REFUSAL, REFUSAL], [[], []]), "p", spec)
    assert not refused["passed"] and refused["verdict"] == "the question was refused (no_answer)"
    elsewhere = check_freshness(Client(["£25", "£25"], [["Desks cost £25."], ["Desks cost £25."]]), "p", spec)
    assert elsewhere["verdict"] == "the edited passage was not among the answer's citations"
    uncited = check_freshness(Client(["£25", "It costs £25."], [[], []]), "p", spec)  # no citation, no refusal
    assert uncited["verdict"] == "the edited passage was not among the answer's citations"
    unquoted = check_freshness(Client(["£55", "£55"], [["£55"], ["The boardroom costs £59 an hour."]]), "p", spec)
    assert unquoted["retrieved_edit"] and "did not quote it" in unquoted["verdict"]
    client = Client(["£55", "It is £59."], [["£55"], ["The boardroom costs £59 an hour."]])
    fresh = check_freshness(client, "p", spec)
    assert fresh["passed"] and fresh["verdict"] == "the answer quotes the edited fact"
    assert client.uploaded == ["The boardroom costs £59 an hour.".encode(), "The boardroom costs £55 an hour.".encode()]
    assert doc.read_bytes() == "The boardroom costs £55 an hour.".encode()  # the file itself is never edited


def test_a_document_the_collection_does_not_hold_as_that_file_is_left_alone(tmp_path):
    """The check puts the spec's file back at the end: against a collection without the document (the
    sample's spec, the default, on another company's profile) or with another version of it, it would
    add or replace one of its documents. It stops first, asking nothing and uploading nothing."""
    doc = tmp_path / "prices.md"
    doc.write_text(BOARDROOM)
    spec = {"document": "prices.md", "file": str(doc), "find": "£55", "replace": "£59",
            "question": "What does the big boardroom cost by the hour?"}
    for stored, said in ((None, "does not hold"), ("The boardroom costs £65 an hour.", "another version")):
        client = Client(["£55", "It is £59."], [["£55"], ["The boardroom costs £59 an hour."]], stored=stored)
        with pytest.raises(EvalError, match=said):
            check_freshness(client, "acme", spec)
        assert client.uploaded == [] and len(client.replies) == 2
    client = Client(["£55", "It is £59."], [["£55"], ["The boardroom costs £59 an hour."]])
    # an upload would store "prices.md", "prices_.md", nothing, or the name's first 200 characters
    for document in ("rooms/prices.md", "prices?.md", ".prices.md", "p" * 198 + "rices.md"):
        with pytest.raises(EvalError, match="plain file name"):
            check_freshness(client, "acme", {**spec, "document": document})
    with pytest.raises(EvalError, match="cannot read the file"):
        check_freshness(client, "acme", {**spec, "file": str(tmp_path / "missing.md")})
    assert client.uploaded == []
