"""The freshness check's verdict, with a stand-in client (the real server: test_eval_server.py)."""

from types import SimpleNamespace

from evaluation.freshness import check_freshness

REFUSAL = "That one isn't in our help pages."


class Client:
    """Answers the freshness question with ``answers`` in turn, citing ``cited`` (passage texts), with
    the outcome the answer policy reports (``no_answer`` for the refusal, else ``extract``)."""

    def __init__(self, answers: list[str], cited: list[list[str]]):
        self.replies = [SimpleNamespace(answer=a, citations=[{"text": t} for t in c],
                                        outcome="no_answer" if a == REFUSAL else "extract")
                        for a, c in zip(answers, cited)]
        self.uploaded: list[bytes] = []

    def chat(self, profile, messages, retrieval, max_tokens, seed=None):
        return self.replies.pop(0)

    def upload(self, profile, document, content: bytes):
        self.uploaded.append(content)


def test_the_verdict_says_whether_the_question_was_refused_the_edit_not_cited_or_not_quoted(tmp_path):
    doc = tmp_path / "prices.md"
    doc.write_text("The boardroom costs £55 an hour.")
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
