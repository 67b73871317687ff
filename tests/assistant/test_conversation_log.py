"""The conversation log on both databases it supports: SQLite (default) and a real PostgreSQL."""

import time

import pytest
from sqlalchemy import text

from assistant.conversation_log import ConversationLog, UnknownExchange
from tests import postgres

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def postgres_url():
    if not postgres.available():
        pytest.fail("no PostgreSQL server binaries: apt-get install postgresql")
    with postgres.postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def log(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'tenor.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    log = ConversationLog(url, redact_patterns={"order": r"\bLK-\d{6}\b"}, retention_days=30)
    yield log
    with log.engine.begin() as conn:  # the PostgreSQL database is shared by the module's tests
        conn.execute(text("DELETE FROM feedback"))
        conn.execute(text("DELETE FROM exchanges"))
    log.close()


def record(log, response_id="chatcmpl-1", **over):
    fields = dict(response_id=response_id, profile="larkfield", adapter="larkfield-voice@2",
                  question="Where is my order LK-123456? Mail me at jane@example.com or call +1 555 010 0199",
                  answer="Hey rider! It ships in 2 days [1].", outcome="answered", latency_ms=812.5,
                  citations=[{"index": 1, "document_id": "returns.md", "text": "Write to help@larkfield.example"}])
    log.record(**{**fields, **over})


def test_exchanges_are_stored_redacted_with_the_adapter_version(log):
    record(log)
    [row] = log.exchanges()
    assert row.question == "Where is my order [order]? Mail me at [email] or call [phone]"
    assert row.citations[0]["text"] == "Write to [email]"
    assert (row.adapter, row.outcome, row.latency_ms) == ("larkfield-voice@2", "answered", 812.5)
    with log.engine.connect() as conn:  # nothing in any column holds the e-mail address or phone number
        dump = " ".join(str(v) for r in conn.execute(text("SELECT * FROM exchanges")) for v in r)
    assert "jane@example.com" not in dump and "555 010 0199" not in dump and "LK-123456" not in dump


def test_feedback_refers_to_an_exchange_and_is_redacted(log):
    record(log)
    log.add_feedback("chatcmpl-1", "down", comment="wrong, call me on 020 7946 0958",
                     correction="Hey rider! It ships within 5 business days.")
    [rated] = log.rated()
    assert (rated.feedback.rating, rated.feedback.comment) == ("down", "wrong, call me on [phone]")
    assert rated.exchange.id == "chatcmpl-1"
    with pytest.raises(UnknownExchange):
        log.add_feedback("chatcmpl-nope", "up")
    with pytest.raises(UnknownExchange):  # a key limited to other profiles cannot rate it
        log.add_feedback("chatcmpl-1", "up", profiles={"other"})


def test_retention_deletes_old_exchanges_and_their_feedback(log):
    record(log, "chatcmpl-old")
    record(log, "chatcmpl-new")
    log.add_feedback("chatcmpl-old", "up")
    assert log.purge(now=time.time() + 29 * 86400) == 0
    assert log.purge(now=time.time() + 31 * 86400) == 2
    assert log.counts() == {"exchanges": 0, "feedback": 0}


def test_recording_enforces_retention(log):
    record(log, "chatcmpl-old")
    with log.engine.begin() as conn:  # written 31 days ago
        conn.execute(text("UPDATE exchanges SET created_at = created_at - 31 * 86400"))
    log.purged_at = 0.0  # a process that has not purged yet today
    record(log, "chatcmpl-new")
    assert [e.id for e in log.exchanges()] == ["chatcmpl-new"]


def test_reopening_runs_no_migration_twice_and_keeps_the_data(log):
    record(log)
    again = ConversationLog(str(log.engine.url.render_as_string(hide_password=False)))
    assert [r.id for r in again.exchanges()] == ["chatcmpl-1"]
    again.close()
