"""Chat: ground the conversation, generate with the profile's adapter on vLLM, verify, cite.

No HTTP here: ``complete`` returns a ``ChatCompletion`` and ``stream`` yields
chunk dicts; the router frames them as SSE.

After generation each answer is verified (``tenor.verify``): its sentences
are attributed to the passages, the server writes the ``[n]`` markers, and the
profile's ``answer_policy`` decides what ships. ``citations`` then lists only
the passages the shipped answer uses, and ``groundedness`` says how much of
the model's answer the passages support. A question only the reader let in
is answered, under ``strict``, with the quote the reader picks, and the model
is not asked (``quoted``); for one the words let in, the reader confirms the
words' quote when the model's answer fails (``tenor.verify.apply_policy``).

Streaming: with ``answer_policy: off`` vLLM's chunks are relayed as they come
(only ``id`` and ``model`` rewritten). With ``strict`` or ``annotate`` the
model's text is buffered and the verified answer is streamed once checked:
stock clients concatenate deltas, so text already sent could never be taken
back. Either way the last chunk before usage carries ``citations``,
``groundedness`` and ``answer_outcome`` (and ``choices: []``).
"""

from __future__ import annotations

import logging
import time
from contextlib import aclosing
from typing import AsyncIterator, Callable

from anyio import to_thread

from assistant.engine import Engine, engine_model
from assistant.grounding import Grounded, GroundingService
from assistant.metrics import Metrics
from assistant.protocol import (ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, Choice, ChunkChoice,
                                Delta, ResponseMessage, Usage, completion_id)
from ingest.embedder import closeness
from tenor.answers import says_not_covered
from tenor.config import Profile, Settings
from tenor.prompt import approx_tokens
from tenor.verify import Verdict, apply_policy, attribute, checkable

log = logging.getLogger("tenor.server")
OnUsage = Callable[[dict], None]  # told each answer's usage (a key's token budget)
# The verifier's outcomes, as the conversation log records them (answered / replaced / no answer).
_LOGGED_OUTCOME = {"shipped": "answered", "annotated": "answered", "extract": "replaced",
                   "refused": "no_answer", "no_answer": "no_answer", "answered": "answered"}


_SAMPLING = ("temperature", "top_p", "stop", "seed", "n", "user", "presence_penalty", "frequency_penalty")
_PROFILE_SAMPLING = ("temperature", "frequency_penalty", "presence_penalty", "repetition_penalty")


def with_reads(usage: dict, grounded: Grounded) -> dict:
    """An answer's usage with the reader's reads (``grounded.read_tokens``) in its prompt tokens, as
    the key is charged for them: a quote the reader picked, or a refusal it decided, used no model."""
    read = grounded.read_tokens.total
    if not read:
        return usage
    return {**usage, "prompt_tokens": usage.get("prompt_tokens", 0) + read,
            "total_tokens": usage.get("total_tokens", 0) + read}


def settled_usage(text: str, choices: int, grounded: Grounded) -> dict:
    """The usage of an answer decided without the model: no model prompt, the text's estimated
    tokens for each choice (not charged), and the reads."""
    n = approx_tokens(text) * choices
    return with_reads({"prompt_tokens": 0, "completion_tokens": n, "total_tokens": n}, grounded)


def sampling(profile: Profile, request: ChatCompletionRequest, default_max_tokens: int) -> dict:
    """vLLM's sampling fields: the profile's decoding defaults, then the request's own values."""
    decoding = profile.decoding
    body = {name: getattr(decoding, name) for name in _PROFILE_SAMPLING if getattr(decoding, name) is not None}
    body["max_tokens"] = request.requested_max_tokens or decoding.max_tokens or default_max_tokens
    for name in _SAMPLING:
        value = getattr(request, name)
        if value is not None:
            body[name] = value
    if decoding.stop_at_sign_off and profile.voice.sign_off:
        stops = body.get("stop") or []
        body["stop"] = [*([stops] if isinstance(stops, str) else stops), profile.voice.sign_off]
        body["include_stop_str_in_output"] = True  # vLLM: keep the sign-off itself in the answer
    return body


class ChatService:
    def __init__(self, settings: Settings, grounding: GroundingService, engine: Engine, metrics: Metrics,
                 conversations=None, version_of=lambda adapter: adapter):
        self.settings = settings
        self.grounding = grounding
        self.engine = engine
        self.metrics = metrics
        self.conversations = conversations  # the conversation log, when a profile logs
        self.version_of = version_of  # adapter setting -> the version answering now ("larkfield@3")

    async def record(self, profile: Profile, request: ChatCompletionRequest, response_id: str, answer: str,
                     citations: list[dict], outcome: str, started: float) -> None:
        """Log the exchange (redacted) when the profile asks for it; a log failure never fails the answer."""
        if self.conversations is None or not profile.log_conversations:
            return
        outcome = _LOGGED_OUTCOME.get(outcome, "answered")
        question = next((m.text() for m in reversed(request.messages) if m.role == "user"), "")
        try:
            await to_thread.run_sync(lambda: self.conversations.record(
                response_id=response_id, profile=profile.name, adapter=self.version_of(profile.adapter), question=question,
                answer=answer, citations=citations, outcome=outcome,
                latency_ms=round((time.perf_counter() - started) * 1000, 1)))
        except Exception:
            log.exception("could not write exchange %s to the conversation log", response_id)

    # -- verification -------------------------------------------------------------------
    def verify(self, profile: Profile, grounded: Grounded, answer: str, request_id: str = "") -> Verdict | None:
        """The answer to ship under the profile's policy (None: nothing to verify against)."""
        if not grounded.citations:  # retrieval off: no passages to check against
            return None
        started = time.perf_counter()
        verdict = self.verdict(profile, grounded, answer)
        self.metrics.verification.labels(profile.name).observe(time.perf_counter() - started)
        self._counted(profile, verdict, request_id)
        return verdict

    def verdict(self, profile: Profile, grounded: Grounded, answer: str) -> Verdict:
        greeting, sign_off = profile.voice.frame()
        embed = None
        if profile.verify.embeddings:
            embedder = self.grounding.index_for(profile.collection).embedder
            embed = embedder.encode
        reads = self.grounding.quote_reader(profile, grounded) if profile.answer_policy == "strict" else None
        attribution = attribute(answer, [checkable(c) for c in grounded.citations], embed=embed,
                                min_support=profile.verify.min_support,
                                voice_phrases=profile.voice.phrases())
        return apply_policy(profile.answer_policy, answer, attribution, grounded.evidence,
                            no_answer=profile.no_answer, refused=says_not_covered(answer, profile.no_answer),
                            question=grounded.question, min_coverage=profile.retrieval.min_coverage,
                            min_similarity=profile.retrieval.min_similarity,
                            reads=reads if grounded.read is not None else None,
                            confirms=reads if grounded.read is None else None,
                            meaning=lambda: closeness(self.grounding.index_for(profile.collection).embedder,
                                                      [grounded.question, grounded.query]),
                            greeting=greeting, sign_off=sign_off)

    def quoted(self, profile: Profile, grounded: Grounded, request_id: str = "") -> Verdict | None:
        """For a question only the reader let in, under ``strict``: the quote the reader picks,
        which ships before any answer of the model's (``tenor.verify.apply_policy``), so the
        model is not asked; None when there is none (the model answers, and is verified)."""
        if grounded.read is None or profile.answer_policy != "strict" or not grounded.citations:
            return None
        started = time.perf_counter()
        verdict = self.verdict(profile, grounded, "")
        self.metrics.verification.labels(profile.name).observe(time.perf_counter() - started)  # reads take time
        if verdict.outcome != "extract":
            return None
        self.metrics.answers.labels(profile.name, verdict.outcome).inc()
        log.info("answer quoted: request_id=%s profile=%s (the reader's pick; the model was not asked)",
                 request_id or "-", profile.name)
        return verdict

    def _counted(self, profile: Profile, verdict: Verdict, request_id: str) -> None:
        self.metrics.answers.labels(profile.name, verdict.outcome).inc()
        if verdict.replaced:
            log.info("answer replaced: request_id=%s profile=%s outcome=%s unsupported=%d groundedness=%s",
                     request_id or "-", profile.name, verdict.outcome, len(verdict.attribution.unsupported),
                     verdict.attribution.groundedness)

    async def settled(self, profile: Profile, grounded: Grounded,
                      request_id: str) -> tuple[str, list[dict], dict] | None:
        """An answer decided without the model, as (text, citations, outcome fields): the
        no-answer text, or the quote the reader picks (``quoted``); None: the model answers."""
        if grounded.no_answer is not None:
            return grounded.no_answer, [], {"groundedness": None, "answer_outcome": "no_answer"}
        quoted = None if grounded.read is None else await to_thread.run_sync(self.quoted, profile, grounded,
                                                                               request_id)
        if quoted is None:
            return None
        return quoted.text, self.cited(grounded, [quoted], profile.answer_policy), self.outcome_fields([quoted])

    @staticmethod
    def cited(grounded: Grounded, verdicts: list[Verdict | None], policy: str) -> list[dict]:
        """The passages the shipped answers use, with their support (policy off: all, as the model saw them)."""
        if policy == "off" or not any(verdicts):
            return grounded.citations
        by_index = {c["index"]: c for c in grounded.citations}
        used: dict[int, dict] = {}
        for verdict in filter(None, verdicts):
            for n, entry in verdict.used.items():
                merged = used.setdefault(n, {"support": 0.0, "sentences": []})
                merged["support"] = max(merged["support"], entry["support"])
                merged["sentences"] += entry["sentences"]
        return [{**by_index[n], **entry} for n, entry in sorted(used.items()) if n in by_index]

    @staticmethod
    def outcome_fields(verdicts: list[Verdict | None]) -> dict:
        first = verdicts[0] if verdicts else None
        return {"groundedness": None if first is None or first.groundedness is None else round(first.groundedness, 4),
                "answer_outcome": first.outcome if first else None}

    async def ground(self, profile: Profile, request: ChatCompletionRequest,
                     on_usage: OnUsage | None = None) -> Grounded:
        """Ground the request; the reader's reads, if any, are counted in the metrics, charged to
        ``on_usage`` as prompt tokens and reported in the answer's usage (``with_reads``)."""
        def on_read(tokens: int) -> None:
            self.metrics.count_read(profile.name, tokens)
            if on_usage:
                on_usage({"prompt_tokens": tokens, "completion_tokens": 0})

        grounded = await to_thread.run_sync(lambda: self.grounding.ground(
            profile, request.conversation(), retrieval=request.retrieval,
            filters=request.filters, max_tokens=request.requested_max_tokens or profile.decoding.max_tokens,
            on_read=on_read,
        ))
        if request.retrieval:
            self.metrics.retrieval.labels(profile.name).observe(grounded.retrieval_s)
        if grounded.no_answer is not None:
            self.metrics.no_answer.labels(profile.name).inc()
        return grounded

    def payload(self, profile: Profile, request: ChatCompletionRequest, grounded: Grounded) -> dict:
        return {"model": engine_model(profile), "messages": grounded.messages,
                **sampling(profile, request, self.settings.server.default_max_tokens)}

    # -- not streamed -----------------------------------------------------------------
    async def complete(self, profile: Profile, request: ChatCompletionRequest,
                       request_id: str = "", on_usage: OnUsage | None = None) -> ChatCompletion:
        started = time.perf_counter()
        grounded = await self.ground(profile, request, on_usage)
        settled = await self.settled(profile, grounded, request_id)
        if settled is not None:
            text, cited, outcome = settled
            usage = Usage(**settled_usage(text, request.n, grounded))
            choices = [Choice(index=i, message=ResponseMessage(content=text)) for i in range(request.n)]
            response = ChatCompletion(model=profile.name, choices=choices, usage=usage, citations=cited, **outcome)
            await self.record(profile, request, response.id, text, cited, outcome["answer_outcome"], started)
            return response
        result = await self.engine.chat(self.payload(profile, request, grounded))
        self._count_usage(profile, result.get("usage"), on_usage)
        choices, verdicts = [], []
        for i, c in enumerate(result.get("choices", [])):
            text = (c.get("message") or {}).get("content")
            verdict = await to_thread.run_sync(self.verify, profile, grounded, text or "", request_id)
            verdicts.append(verdict)
            choices.append(Choice(index=c.get("index", i), finish_reason=c.get("finish_reason"),
                                  message=ResponseMessage(content=verdict.text if verdict else text)))
        cited = self.cited(grounded, verdicts, profile.answer_policy)
        outcome = self.outcome_fields(verdicts)
        response = ChatCompletion(model=profile.name, choices=choices,
                                  usage=Usage(**with_reads(result.get("usage") or {}, grounded)),
                                  citations=cited, **outcome)
        answer = (choices[0].message.content or "") if choices else ""
        await self.record(profile, request, response.id, answer, cited, outcome["answer_outcome"] or "answered",
                          started)
        return response

    # -- streamed ----------------------------------------------------------------------
    async def stream(self, profile: Profile, request: ChatCompletionRequest,
                     request_id: str = "", on_usage: OnUsage | None = None) -> AsyncIterator[dict]:
        """Ground and open the vLLM stream (errors raise here), then return the chunk iterator."""
        started = time.perf_counter()
        grounded = await self.ground(profile, request, on_usage)
        include_usage = bool(request.stream_options and request.stream_options.include_usage)
        settled = await self.settled(profile, grounded, request_id)
        if settled is not None:
            text, cited, outcome = settled
            usage = settled_usage(text, request.n, grounded) if include_usage else None
            return self._replay(profile, request, [text] * request.n, ["stop"] * request.n, cited, outcome, usage,
                                started)
        payload = self.payload(profile, request, grounded)
        payload["stream_options"] = {"include_usage": True}  # always: the metrics need it
        chunks = self._charged(profile, grounded, await self.engine.stream_chat(payload), on_usage)
        if profile.answer_policy == "off" or not grounded.citations:
            return self._relay(profile, request, grounded, chunks, include_usage, started, request_id)
        return self._verified(profile, request, grounded, chunks, include_usage, started, request_id)

    def _count_usage(self, profile: Profile, usage: dict | None, on_usage: OnUsage | None) -> None:
        self.metrics.count_usage(profile.name, usage)
        if usage and on_usage:
            on_usage(usage)

    async def _charged(self, profile: Profile, grounded: Grounded, chunks: AsyncIterator[dict],
                       on_usage: OnUsage | None) -> AsyncIterator[dict]:
        """vLLM's chunks, unchanged; the usage is counted (and charged to the key) as it passes, or
        estimated when the stream ends without it (the client left, or vLLM died)."""
        streamed = 0  # content deltas, about one token each
        counted = False
        try:
            async for chunk in chunks:
                if chunk.get("usage") and not chunk.get("choices"):
                    self._count_usage(profile, chunk["usage"], on_usage)
                    counted = True
                streamed += any((c.get("delta") or {}).get("content") for c in chunk.get("choices", []))
                yield chunk
        finally:
            if not counted and on_usage:
                prompt = sum(approx_tokens(str(m.get("content") or "")) for m in grounded.messages)
                on_usage({"prompt_tokens": prompt, "completion_tokens": streamed})

    async def _verified(self, profile: Profile, request: ChatCompletionRequest, grounded: Grounded,
                        chunks: AsyncIterator[dict], include_usage: bool, started: float,
                        request_id: str) -> AsyncIterator[dict]:
        """Buffer the model's text, verify it, then stream what the policy ships."""
        texts: dict[int, list[str]] = {}
        finish: dict[int, str | None] = {}
        usage = None
        async for chunk in chunks:
            if chunk.get("usage") and not chunk.get("choices"):
                usage = chunk["usage"]
                continue
            for c in chunk.get("choices", []):
                i = c.get("index", 0)
                texts.setdefault(i, []).append((c.get("delta") or {}).get("content") or "")
                finish[i] = c.get("finish_reason") or finish.get(i)
        indexes = sorted(texts)
        verdicts = [await to_thread.run_sync(self.verify, profile, grounded, "".join(texts[i]), request_id)
                    for i in indexes]
        self.metrics.ttft.labels(profile.name).observe(time.perf_counter() - started)
        async for chunk in self._replay(profile, request, [v.text for v in verdicts], [finish[i] for i in indexes],
                                        self.cited(grounded, verdicts, profile.answer_policy),
                                        self.outcome_fields(verdicts),
                                        with_reads(usage, grounded) if include_usage and usage else None, started):
            yield chunk

    async def _relay(self, profile: Profile, request: ChatCompletionRequest, grounded: Grounded,
                     chunks: AsyncIterator[dict], include_usage: bool, started: float,
                     request_id: str) -> AsyncIterator[dict]:
        """vLLM's chunks as they come; the attribution follows in a last chunk."""
        cid = completion_id()
        citations = grounded.citations
        texts: dict[int, list[str]] = {}
        usage_chunk = None
        first = True
        first_token = True
        async with aclosing(chunks):  # a client that leaves closes vLLM's stream (and is charged) now
            async for chunk in chunks:
                for c in chunk.get("choices", []):
                    texts.setdefault(c.get("index", 0), []).append((c.get("delta") or {}).get("content") or "")
                chunk["id"] = cid
                chunk["model"] = profile.name
                if first:
                    chunk["citations"] = citations
                    first = False
                if chunk.get("usage") and not chunk.get("choices"):
                    if include_usage:
                        usage_chunk = chunk  # usage stays last, after the attribution
                    continue
                elif not include_usage:
                    chunk.pop("usage", None)
                if first_token and any((c.get("delta") or {}).get("content") for c in chunk.get("choices", [])):
                    self.metrics.ttft.labels(profile.name).observe(time.perf_counter() - started)
                    first_token = False
                yield chunk
        outcome = {"answer_outcome": None}
        if grounded.citations:
            verdicts = [await to_thread.run_sync(self.verify, profile, grounded, "".join(texts[i]), request_id)
                        for i in sorted(texts)]
            outcome = self.outcome_fields(verdicts)
            yield ChatCompletionChunk(id=cid, model=profile.name, citations=citations, **outcome).model_dump()
        if usage_chunk is not None:
            yield {**usage_chunk, "usage": with_reads(usage_chunk["usage"], grounded)}
        await self.record(profile, request, cid, "".join(texts.get(0, [])), citations,
                          outcome["answer_outcome"] or "answered", started)

    async def _replay(self, profile: Profile, request: ChatCompletionRequest, texts: list[str],
                      finish: list[str | None], citations: list[dict], outcome: dict, usage: dict | None,
                      started: float) -> AsyncIterator[dict]:
        """Whole answers in OpenAI's framing: per choice a role chunk, the text, the finish;
        then the attribution chunk, then usage if asked."""
        cid, created = completion_id(), int(time.time())

        def chunk(choices, **extra) -> dict:
            return ChatCompletionChunk(id=cid, created=created, model=profile.name, choices=choices,
                                       **extra).model_dump()

        for i, (text, reason) in enumerate(zip(texts, finish)):
            yield chunk([ChunkChoice(index=i, delta=Delta(role="assistant", content=""))])
            yield chunk([ChunkChoice(index=i, delta=Delta(content=text))])
            yield chunk([ChunkChoice(index=i, delta=Delta(), finish_reason=reason or "stop")])
        yield chunk([], citations=citations, **outcome)
        if usage:
            yield chunk([], usage=Usage(**usage))
        await self.record(profile, request, cid, texts[0] if texts else "", citations,
                          outcome["answer_outcome"] or "answered", started)
