"""The conversation log and feedback: a real database, SQLite by default, PostgreSQL when shared.

Opt-in per profile (``log_conversations``). Each exchange is stored redacted
(``assistant.redaction``), with the profile, the adapter (and its version) that
wrote it, the citations, the grounding outcome and the latency; feedback
(thumbs, a comment, a corrected answer) refers to an exchange by its response
id. The schema is created and upgraded by Alembic (``assistant/migrations``)
when the log is opened, so every replica of a deployment that shares
``database_url`` sees one log. Retention: exchanges older than
``conversations.retention_days`` are deleted (with their feedback) by ``purge``,
which runs with the first exchange a process records and then at most daily.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import (JSON, Float, ForeignKey, Integer, String, Text, create_engine, delete, event, func,
                        select)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from assistant.redaction import Redactor

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
OUTCOMES = ("answered", "replaced", "no_answer")


class Base(DeclarativeBase):
    pass


class Exchange(Base):
    __tablename__ = "exchanges"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the response id (chatcmpl-...)
    created_at: Mapped[float] = mapped_column(Float, index=True)
    request_id: Mapped[str | None] = mapped_column(String(64))
    profile: Mapped[str] = mapped_column(String(128), index=True)
    adapter: Mapped[str | None] = mapped_column(String(256))  # name@version that wrote the answer
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    citations: Mapped[list] = mapped_column(JSON, default=list)
    outcome: Mapped[str] = mapped_column(String(16), index=True)
    latency_ms: Mapped[float | None] = mapped_column(Float)


class Feedback(Base):
    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    exchange_id: Mapped[str] = mapped_column(ForeignKey("exchanges.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[float] = mapped_column(Float)
    rating: Mapped[str] = mapped_column(String(8))  # up | down
    comment: Mapped[str | None] = mapped_column(Text)
    correction: Mapped[str | None] = mapped_column(Text)


class UnknownExchange(LookupError):
    """Feedback for a response id the log does not hold."""


@dataclass
class Rated:
    exchange: Exchange
    feedback: Feedback


def database_url(settings) -> str:
    return settings.database_url or f"sqlite:///{Path(settings.home) / 'tenor.db'}"


def migrate(url: str) -> None:
    """Create or upgrade the schema to the latest migration."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, "head")


class ConversationLog:
    def __init__(self, url: str, redact_patterns: dict[str, str] | None = None, retention_days: int = 90):
        if url.startswith("sqlite:///"):
            Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        migrate(url)
        self.engine = create_engine(url, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", lambda conn, _: conn.execute("PRAGMA foreign_keys=ON"))
        self.redact = Redactor(redact_patterns)
        self.retention_days = retention_days
        self.purged_at = 0.0

    @classmethod
    def from_settings(cls, settings) -> "ConversationLog":
        c = settings.conversations
        return cls(database_url(settings), c.redact_patterns, c.retention_days)

    def record(self, *, response_id: str, profile: str, adapter: str | None, question: str, answer: str,
               citations: list[dict], outcome: str, latency_ms: float | None, request_id: str | None = None) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}")
        cited = [{k: (self.redact(v) if k == "text" else v) for k, v in c.items()} for c in citations]
        if time.time() - self.purged_at > 86400:  # retention, enforced at most once a day per process
            self.purge()
        with Session(self.engine) as session, session.begin():
            session.add(Exchange(id=response_id, created_at=time.time(), request_id=request_id, profile=profile,
                                 adapter=adapter, question=self.redact(question) or "", answer=self.redact(answer) or "",
                                 citations=cited, outcome=outcome, latency_ms=latency_ms))

    def add_feedback(self, response_id: str, rating: str, comment: str | None = None,
                     correction: str | None = None, profiles: set[str] | None = None) -> int:
        """Store feedback on one exchange (restricted to ``profiles`` when given); returns its id."""
        with Session(self.engine) as session, session.begin():
            exchange = session.get(Exchange, response_id)
            if exchange is None or (profiles is not None and exchange.profile not in profiles):
                raise UnknownExchange(response_id)
            row = Feedback(exchange_id=response_id, created_at=time.time(), rating=rating,
                           comment=self.redact(comment), correction=self.redact(correction))
            session.add(row)
            session.flush()
            return row.id

    def exchanges(self, profile: str | None = None) -> list[Exchange]:
        query = select(Exchange).order_by(Exchange.created_at)
        if profile:
            query = query.where(Exchange.profile == profile)
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.scalars(query))

    def rated(self, profile: str | None = None) -> list[Rated]:
        """Every feedback row with its exchange, oldest first."""
        query = select(Exchange, Feedback).join(Feedback, Feedback.exchange_id == Exchange.id) \
            .order_by(Feedback.created_at)
        if profile:
            query = query.where(Exchange.profile == profile)
        with Session(self.engine, expire_on_commit=False) as session:
            return [Rated(e, f) for e, f in session.execute(query)]

    def counts(self) -> dict[str, int]:
        with Session(self.engine) as session:
            return {"exchanges": session.scalar(select(func.count()).select_from(Exchange)) or 0,
                    "feedback": session.scalar(select(func.count()).select_from(Feedback)) or 0}

    def purge(self, now: float | None = None) -> int:
        """Delete exchanges (and their feedback) older than the retention period; returns how many."""
        self.purged_at = time.time()
        cutoff = (now or time.time()) - self.retention_days * 86400
        with Session(self.engine) as session, session.begin():
            old = select(Exchange.id).where(Exchange.created_at < cutoff)
            session.execute(delete(Feedback).where(Feedback.exchange_id.in_(old)))
            return session.execute(delete(Exchange).where(Exchange.created_at < cutoff)).rowcount or 0

    def close(self) -> None:
        self.engine.dispose()


def dumps(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def training_examples(log: ConversationLog, profile: str | None = None) -> tuple[list[dict], list[dict]]:
    """Feedback as fine-tuning data: (examples, disliked).

    An exchange's latest feedback decides: a corrected answer becomes an example
    with the correction as the target; a liked answer becomes one as it was
    (without the server's [n] markers: grounded training cites the passages it
    retrieves itself); a disliked answer without a correction is listed, not
    exported. Examples are OpenAI chat JSONL lines, the format `tenor finetune`
    validates; the profile's system prompt is added by training.
    """
    from tenor.answers import CITATION_MARKER

    latest: dict[str, Rated] = {}
    for rated in log.rated(profile):
        latest[rated.exchange.id] = rated
    examples, disliked = [], []
    for rated in latest.values():
        exchange, feedback = rated.exchange, rated.feedback
        if feedback.correction:
            target = feedback.correction
        elif feedback.rating == "up":
            target = CITATION_MARKER.sub("", exchange.answer).replace("  ", " ").strip()
        else:
            disliked.append({"response_id": exchange.id, "question": exchange.question, "answer": exchange.answer,
                             "comment": feedback.comment})
            continue
        examples.append({"messages": [{"role": "user", "content": exchange.question},
                                      {"role": "assistant", "content": target}]})
    return examples, disliked
