"""Run a question set through the real server in four configurations and score it.

The configurations differ in two switches only: the profile (the brand
profile with its adapter, or its twin without one) and retrieval (on, or off
with the request's ``retrieval: false`` extension). Everything goes through
the server's public API with the official ``openai`` client, exactly as a
customer's tool would call it.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import quote

import httpx

from evaluation import metrics
from ingest.recall import retrieval_recall
from tenor.answers import has_loop, voice_adherence
from tenor.config import Profile


class EvalError(Exception):
    pass


@dataclass(frozen=True)
class Configuration:
    name: str
    profile: str
    retrieval: bool
    adapter: str | None = None  # another loaded adapter for the profile (admin override), e.g. a candidate


def configurations(profile: str, base_profile: str | None, base_only: bool = False,
                   served_only: bool = False) -> list[Configuration]:
    """Base first, the full Tenor configuration (adapter+retrieval) last; with
    ``base_only``, just the base model without and with retrieval (for judging
    a candidate base model before training an adapter on it); with ``served_only``,
    just adapter+retrieval (what Tenor serves; no base profile needed)."""
    served = Configuration("adapter+retrieval", profile, True)
    if served_only:
        return [served]
    base = [Configuration("base", base_profile, False), Configuration("base+retrieval", base_profile, True)]
    if base_only:
        return base
    return base + [Configuration("adapter", profile, False), served]


def headline(summary: dict[str, dict]) -> str:
    """The configuration the gates and the report's answers are about: the last one
    (adapter+retrieval, or base+retrieval with ``base_only``)."""
    return list(summary)[-1]


@dataclass
class Record:
    """One question answered in one configuration, with its scores."""

    id: str
    configuration: str
    question: str
    answer: str = ""
    citations: list[dict] = field(default_factory=list)
    latency_s: float = 0.0
    ttft_s: float | None = None
    error: str | None = None
    outcome: str | None = None  # what the server's answer policy shipped (``answer_outcome``)
    scores: dict = field(default_factory=dict)


@dataclass
class Reply:
    answer: str
    citations: list[dict]
    latency_s: float
    ttft_s: float | None
    outcome: str | None  # shipped | annotated | extract | no_answer | refused; None without a policy


def load_question_set(path: Path) -> list[dict]:
    """JSONL: ``question`` (required), ``id``, ``history``, ``patterns``,
    ``expected``, ``source``, ``unanswerable``; errors name the line."""
    items = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        if not isinstance(item, dict) or not str(item.get("question", "")).strip():
            raise EvalError(f"{path}:{number}: each line needs a non-empty 'question'")
        for pattern in item.get("patterns") or []:
            try:
                metrics.re.compile(pattern)
            except metrics.re.error as exc:
                raise EvalError(f"{path}:{number}: bad pattern {pattern!r}: {exc}") from None
        item.setdefault("id", f"line{number}")
        items.append(item)
    if not items:
        raise EvalError(f"{path}: no questions")
    return items


def conversation(item: dict) -> list[dict]:
    return [*(item.get("history") or []), {"role": "user", "content": item["question"]}]


class TenorClient:
    """The server's API as the eval uses it: chat (streamed), retrieve, upload."""

    def __init__(self, url: str, key: str | None = None, timeout: float = 600):
        from openai import OpenAI

        self.url = url.rstrip("/")
        self.openai = OpenAI(base_url=f"{self.url}/v1", api_key=key or "no-key", timeout=timeout, max_retries=2)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def chat(self, profile: str, messages: list[dict], retrieval: bool, max_tokens: int,
             seed: int, adapter: str | None = None) -> Reply:
        started = time.perf_counter()
        ttft, parts, citations, outcome = None, [], [], None
        stream = self.openai.chat.completions.create(
            model=profile, messages=messages, stream=True, temperature=0, max_tokens=max_tokens,
            seed=seed, extra_body={"retrieval": retrieval, **({"adapter": adapter} if adapter else {})},
        )
        for chunk in stream:
            extra = chunk.model_dump()
            if extra.get("citations"):
                citations = extra["citations"]
            outcome = extra.get("answer_outcome") or outcome
            if chunk.choices and chunk.choices[0].delta.content:
                ttft = ttft if ttft is not None else time.perf_counter() - started
                parts.append(chunk.choices[0].delta.content)
        return Reply("".join(parts), citations, time.perf_counter() - started, ttft, outcome)

    def retrieve(self, profile: str, messages: list[dict], k: int, mode: str | None = None) -> list[dict]:
        """``mode``: hybrid or dense; None: the profile's."""
        body = {"model": profile, "messages": messages, "k": k, **({"mode": mode} if mode else {})}
        reply = self.http.post("/v1/retrieve", json=body)
        _check(reply)
        return reply.json()["data"]

    def post(self, path: str, body: dict) -> dict:
        """An admin call (load, promote, rollback an adapter): the JSON reply, or an EvalError."""
        reply = self.http.post(path, json=body)
        _check(reply)
        return reply.json()

    def document(self, profile: str, document_id: str) -> dict | None:
        """The profile's collection's record of a document (its ``content_hash``...), None if it has none."""
        reply = self.http.get(f"/v1/documents/{quote(document_id, safe='/')}", params={"model": profile})
        if reply.status_code == 404:
            return None
        _check(reply)
        return reply.json()

    def upload(self, profile: str, name: str, content: bytes) -> dict:
        reply = self.http.post("/v1/documents", params={"model": profile}, files={"file": (name, content)})
        _check(reply)
        return reply.json()


def _check(reply: httpx.Response) -> None:
    if reply.status_code >= 400:
        try:
            message = reply.json()["error"]["message"]
        except Exception:
            message = reply.text[:300]
        raise EvalError(f"{reply.request.method} {reply.request.url.path}: HTTP {reply.status_code}: {message}")


def answer_all(client: TenorClient, items: list[dict], configs: list[Configuration], *,
               max_tokens: int = 200, seed: int = 0, concurrency: int = 4,
               progress: Callable[[], None] = lambda: None) -> list[Record]:
    """Every item in every configuration (requests run ``concurrency`` at a time)."""

    def ask(job: tuple[Configuration, dict]) -> Record:
        config, item = job
        record = Record(item["id"], config.name, item["question"])
        try:
            reply = client.chat(config.profile, conversation(item), config.retrieval, max_tokens, seed,
                                adapter=config.adapter)
            record.answer, record.citations, record.outcome = reply.answer, reply.citations, reply.outcome
            record.latency_s, record.ttft_s = reply.latency_s, reply.ttft_s
        except Exception as exc:  # one failed request is a data point, not the end of the eval
            record.error = f"{type(exc).__name__}: {exc}"
        progress()
        return record

    jobs = [(config, item) for config in configs for item in items]
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        return list(pool.map(ask, jobs))


def score(records: list[Record], items: list[dict], profile: Profile) -> None:
    """A failed request scores as a failed answer on every rate: not correct, not
    citing its source, out of voice, and no refusal (so, on an answerable question,
    counted with the false refusals by `summarise`). An error never leaves a rate's
    denominator, so a configuration cannot look better by failing its hard questions."""
    by_id = {item["id"]: item for item in items}
    for record in records:
        item = by_id[record.id]
        failed = record.error is not None
        record.scores = {
            "refused": not failed and metrics.is_refusal(record.answer, profile.no_answer),
            "voice": not failed and voice_adherence(record.answer, profile.voice)[0],
            "loop": not failed and has_loop(record.answer),
        }
        if not failed and not record.scores["refused"]:  # the no-answer text is the profile's, not a claim
            record.scores["unsupported_figures"] = metrics.unsupported_figures(record.answer, record.citations)
        if not item.get("unanswerable"):
            record.scores["correct"] = 0.0 if failed else metrics.correctness(item, record.answer)
            if item.get("source"):
                record.scores["cited_source"] = not failed and item["source"] in metrics.cited_documents(
                    record.answer, record.citations)


def refused_by(outcome: str | None) -> str:
    """Who refused: the server (``no_answer``: no passage or evidence passed the retrieval
    gate, or the answer check found neither a supported answer nor an extract to quote),
    a quoted extract that reads as a refusal, or the model (its own words, kept or
    replaced by the no-answer text). A failed request counts as a false refusal too,
    as ``error``."""
    return {"no_answer": "server", "extract": "extract"}.get(outcome or "", "model")


def summarise(records: list[Record], items: list[dict], configs: list[Configuration],
              recall: dict[str, float] | None) -> dict[str, dict]:
    """Per configuration: the figures the report shows."""
    unanswerable = {i["id"] for i in items if i.get("unanswerable")}
    summary = {}
    for config in configs:
        rows = [r for r in records if r.configuration == config.name]
        ok = [r for r in rows if not r.error]  # only for latencies: a failed request has none
        answerable = [r for r in rows if r.id not in unanswerable]
        refusable = [r for r in rows if r.id in unanswerable]
        with_source = [r for r in answerable if "cited_source" in r.scores]
        answered_with_source = [r for r in with_source if not r.scores["refused"]]
        summary[config.name] = {
            "profile": config.profile,
            "retrieval": config.retrieval,
            "answers": len(rows),
            "errors": len(rows) - len(ok),
            "correctness": metrics.mean([r.scores["correct"] for r in answerable]),
            "citation_correctness": (metrics.mean([float(r.scores["cited_source"]) for r in with_source])
                                     if config.retrieval else None),
            "answered_cited": (metrics.mean([float(r.scores["cited_source"]) for r in answered_with_source])
                               if config.retrieval else None),
            "unsupported_figures": (sum(1 for r in ok if r.scores.get("unsupported_figures"))
                                    if config.retrieval else None),
            "loop_rate": metrics.mean([float(r.scores["loop"]) for r in ok]),
            "refusal_rate": metrics.mean([float(r.scores["refused"]) for r in refusable]),
            "false_refusal_rate": metrics.mean([float(r.scores["refused"] or r.error is not None)
                                                for r in answerable]),
            # answered, and not right: what a customer is told wrongly (with correctness and false
            # refusals it makes up every answerable question; a partial F1 counts its missing share)
            "wrong_answer_rate": metrics.mean([0.0 if r.scores["refused"] or r.error else 1.0 - r.scores["correct"]
                                               for r in answerable]),
            "voice_adherence": metrics.mean([float(r.scores["voice"]) for r in rows]),
            "latency_p50_s": metrics.percentile([r.latency_s for r in ok], 50),
            "latency_p95_s": metrics.percentile([r.latency_s for r in ok], 95),
            "ttft_p50_s": metrics.percentile([r.ttft_s for r in ok if r.ttft_s is not None], 50),
            "recall@1": recall.get("recall@1") if recall and config.retrieval else None,
            "recall@5": recall.get("recall@5") if recall and config.retrieval else None,
            "dense_recall@1": recall.get("dense_recall@1") if recall and config.retrieval else None,
            "dense_recall@5": recall.get("dense_recall@5") if recall and config.retrieval else None,
            "outcomes": dict(Counter(r.outcome for r in ok if r.outcome)),
            "false_refusals_by": dict(Counter("error" if r.error else refused_by(r.outcome) for r in answerable
                                              if r.error or r.scores["refused"])),
        }
    return summary


def measure_recall(client: TenorClient, profile: str, items: list[dict]) -> dict[str, float] | None:
    """recall@1/@5 of the passages the server would ground on (conversation included), with
    the profile's retrieval mode and, to compare, with dense retrieval alone (``dense_recall@k``)."""
    with_source = [i for i in items if i.get("source") and not i.get("unanswerable")]
    if not with_source:
        return None
    served = retrieval_recall(lambda item, k: client.retrieve(profile, conversation(item), k), with_source)
    dense = retrieval_recall(lambda item, k: client.retrieve(profile, conversation(item), k, mode="dense"),
                             with_source)
    return {"recall@1": served.recall[1], "recall@5": served.recall[5],
            "dense_recall@1": dense.recall[1], "dense_recall@5": dense.recall[5],
            "questions": served.questions}


def records_as_dicts(records: list[Record]) -> list[dict]:
    return [asdict(r) for r in records]
