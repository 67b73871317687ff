"""Chat: ground the conversation, generate with the profile's adapter on vLLM, attach citations.

No HTTP here: ``complete`` returns a ``ChatCompletion`` and ``stream`` yields
chunk dicts; the router frames them as SSE. vLLM's chunks are relayed as they
come (only ``id`` and ``model`` are rewritten), so the stream has exactly
OpenAI's framing; the first chunk also carries ``citations``.
"""

from __future__ import annotations

import logging
import time
from typing import AsyncIterator

from anyio import to_thread

from assistant.engine import Engine, engine_model
from assistant.grounding import Grounded, GroundingService
from assistant.metrics import Metrics
from assistant.protocol import (ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, Choice, ChunkChoice,
                                Delta, ResponseMessage, Usage, completion_id)
from tenor.config import Profile, Settings
from tenor.prompt import approx_tokens

log = logging.getLogger("tenor.server")

_SAMPLING = ("temperature", "top_p", "stop", "seed", "n", "user", "presence_penalty", "frequency_penalty")
_PROFILE_SAMPLING = ("temperature", "frequency_penalty", "presence_penalty", "repetition_penalty")


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
                 conversations=None):
        self.settings = settings
        self.grounding = grounding
        self.engine = engine
        self.metrics = metrics
        self.conversations = conversations  # the conversation log, when a profile logs

    async def record(self, profile: Profile, request: ChatCompletionRequest, response_id: str, answer: str,
                     citations: list[dict], outcome: str, started: float) -> None:
        """Log the exchange (redacted) when the profile asks for it; a log failure never fails the answer."""
        if self.conversations is None or not profile.log_conversations:
            return
        question = next((m.text() for m in reversed(request.messages) if m.role == "user"), "")
        try:
            await to_thread.run_sync(lambda: self.conversations.record(
                response_id=response_id, profile=profile.name, adapter=profile.adapter, question=question,
                answer=answer, citations=citations, outcome=outcome,
                latency_ms=round((time.perf_counter() - started) * 1000, 1)))
        except Exception:
            log.exception("could not write exchange %s to the conversation log", response_id)

    async def ground(self, profile: Profile, request: ChatCompletionRequest) -> Grounded:
        grounded = await to_thread.run_sync(lambda: self.grounding.ground(
            profile, request.conversation(), retrieval=request.retrieval,
            filters=request.filters, max_tokens=request.requested_max_tokens or profile.decoding.max_tokens,
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
    async def complete(self, profile: Profile, request: ChatCompletionRequest) -> ChatCompletion:
        started = time.perf_counter()
        grounded = await self.ground(profile, request)
        if grounded.no_answer is not None:
            text = grounded.no_answer
            usage = Usage(prompt_tokens=0, completion_tokens=approx_tokens(text), total_tokens=approx_tokens(text))
            choices = [Choice(index=i, message=ResponseMessage(content=text)) for i in range(request.n)]
            response = ChatCompletion(model=profile.name, choices=choices, usage=usage)
            await self.record(profile, request, response.id, text, [], "no_answer", started)
            return response
        result = await self.engine.chat(self.payload(profile, request, grounded))
        self.metrics.count_usage(profile.name, result.get("usage"))
        choices = [
            Choice(index=c.get("index", i), finish_reason=c.get("finish_reason"),
                   message=ResponseMessage(content=(c.get("message") or {}).get("content")))
            for i, c in enumerate(result.get("choices", []))
        ]
        response = ChatCompletion(model=profile.name, choices=choices, usage=Usage(**(result.get("usage") or {})),
                                  citations=grounded.citations)
        answer = (choices[0].message.content or "") if choices else ""
        await self.record(profile, request, response.id, answer, grounded.citations, "answered", started)
        return response

    # -- streamed ----------------------------------------------------------------------
    async def stream(self, profile: Profile, request: ChatCompletionRequest) -> AsyncIterator[dict]:
        """Ground and open the vLLM stream (errors raise here), then return the chunk iterator."""
        started = time.perf_counter()
        grounded = await self.ground(profile, request)
        include_usage = bool(request.stream_options and request.stream_options.include_usage)
        if grounded.no_answer is not None:
            return self._canned(profile, request, grounded.no_answer, include_usage, started)
        payload = self.payload(profile, request, grounded)
        payload["stream_options"] = {"include_usage": True}  # always: the metrics need it
        chunks = await self.engine.stream_chat(payload)
        return self._relay(profile, request, chunks, grounded.citations, include_usage, started)

    async def _relay(self, profile: Profile, request: ChatCompletionRequest, chunks: AsyncIterator[dict],
                     citations: list[dict], include_usage: bool, started: float) -> AsyncIterator[dict]:
        cid = completion_id()
        first = True
        first_token = True
        answer = []
        async for chunk in chunks:
            answer += [(c.get("delta") or {}).get("content") or "" for c in chunk.get("choices", [])
                       if c.get("index", 0) == 0]
            chunk["id"] = cid
            chunk["model"] = profile.name
            if first:
                chunk["citations"] = citations
                first = False
            if chunk.get("usage") and not chunk.get("choices"):
                self.metrics.count_usage(profile.name, chunk["usage"])
                if not include_usage:
                    continue
            elif not include_usage:
                chunk.pop("usage", None)
            if first_token and any((c.get("delta") or {}).get("content") for c in chunk.get("choices", [])):
                self.metrics.ttft.labels(profile.name).observe(time.perf_counter() - started)
                first_token = False
            yield chunk
        await self.record(profile, request, cid, "".join(answer), citations, "answered", started)

    async def _canned(self, profile: Profile, request: ChatCompletionRequest, text: str,
                      include_usage: bool, started: float) -> AsyncIterator[dict]:
        cid, created = completion_id(), int(time.time())

        def chunk(choices, **extra) -> dict:
            return ChatCompletionChunk(id=cid, created=created, model=profile.name, choices=choices,
                                       **extra).model_dump()

        for i in range(request.n):
            yield chunk([ChunkChoice(index=i, delta=Delta(role="assistant", content=""))],
                        citations=[] if i == 0 else None)
            yield chunk([ChunkChoice(index=i, delta=Delta(content=text))])
            yield chunk([ChunkChoice(index=i, delta=Delta(), finish_reason="stop")])
        if include_usage:
            n = approx_tokens(text) * request.n
            yield chunk([], usage=Usage(prompt_tokens=0, completion_tokens=n, total_tokens=n))
        await self.record(profile, request, cid, text, [], "no_answer", started)
