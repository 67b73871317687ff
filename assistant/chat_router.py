"""POST /v1/chat/completions: OpenAI's chat API, grounded, streamed as SSE."""

from __future__ import annotations

import json
import logging

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from assistant import widget_policy
from assistant.auth import Principal
from assistant.deps import Caller, Chat, profile_for
from assistant.engine import EngineError
from assistant.errors import INTERNAL_ERROR, ApiError, bad_request, forbidden
from assistant.protocol import ChatCompletion, ChatCompletionRequest
from tenor.config import Profile, ServerSettings

router = APIRouter()
log = logging.getLogger("tenor.server")


def sse(data: dict | str) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return f"data: {text}\n\n".encode()


async def _frames(chunks):
    try:
        async for chunk in chunks:
            yield sse(chunk)
    except EngineError as exc:  # headers are sent: report in-band, as OpenAI does
        log.warning("chat stream ended by an engine error: %s", exc)
        yield sse(ApiError(503, exc.message, code="engine_unavailable").body())
    except Exception:  # a bug: still end the stream well-formed; the traceback goes to the log
        log.exception("unexpected error while streaming a chat completion")
        yield sse(ApiError(500, INTERNAL_ERROR).body())
    yield sse("[DONE]")


def check_size(body: ChatCompletionRequest, who: Principal, limits: ServerSettings) -> None:
    """A 400 for more messages or content than the caller's key may send (before any tokenizing)."""
    widget = who.scope == "widget"
    prefix = "widget_" if widget else ""
    content = sum(len(m.text().encode("utf-8", "surrogatepass")) for m in body.messages)
    for setting, value, what, code in (
            (f"{prefix}max_request_messages", len(body.messages), "messages", "array_above_max_length"),
            (f"{prefix}max_request_content_bytes", content, "bytes of message content", "string_above_max_length")):
        limit = getattr(limits, setting)
        if value > limit:
            raise bad_request(f"This request has {value:,} {what}; the limit{' for widget keys' if widget else ''} "
                              f"is {limit:,} (setting server.{setting}).", param="messages", code=code)


def with_adapter(profile: Profile, adapter: str, who: Principal) -> Profile:
    """The profile answering with another loaded adapter: how `tenor adapters promote` scores a
    candidate version beside the serving one, on the same server. Admin keys only."""
    if who.scope != "admin":
        raise forbidden("Only an admin key may choose the adapter ('adapter'); leave it out.")
    if not profile.adapter:
        raise bad_request(f"The model '{profile.name}' answers with its base model, without an adapter; "
                          "'adapter' applies to profiles with one.", param="adapter")
    return profile.model_copy(update={"adapter": adapter})


@router.post("/v1/chat/completions", response_model=ChatCompletion, response_model_exclude_none=False)
async def chat_completions(body: ChatCompletionRequest, request: Request, who: Caller, chat: Chat):
    profile = profile_for(request, who, body.model)
    check_size(body, who, request.app.state.settings.server)
    if body.adapter is not None:
        profile = with_adapter(profile, body.adapter, who)
    if who.scope == "widget":
        body = widget_policy.restrict(body, who, profile, request.app.state.settings.server)
    keys = request.app.state.keys
    keys.check_token_budget(who)

    def spend(usage: dict) -> None:
        keys.spend_tokens(who, usage)

    request_id = getattr(request.state, "request_id", "")
    if body.stream:
        chunks = await chat.stream(profile, body, request_id, on_usage=spend)
        return StreamingResponse(_frames(chunks), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    return await chat.complete(profile, body, request_id, on_usage=spend)
