"""POST /v1/retrieve: the passages the assistant would ground on, without generating."""

from __future__ import annotations

from anyio import to_thread
from fastapi import APIRouter, Request

from assistant.deps import Caller, Retrieval, profile_for
from assistant.errors import bad_request
from assistant.protocol import RetrieveRequest, RetrieveResponse

router = APIRouter()


@router.post("/v1/retrieve", response_model=RetrieveResponse)
async def retrieve(body: RetrieveRequest, request: Request, who: Caller, retrieval: Retrieval) -> RetrieveResponse:
    profile = profile_for(request, who, body.model)
    conversation = body.conversation()
    if conversation is None:
        raise bad_request("Give a 'query' or 'messages'.", param="query")
    return await to_thread.run_sync(
        lambda: retrieval.retrieve(profile, conversation, k=body.k, filters=body.filters, mode=body.mode))
