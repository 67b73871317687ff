"""POST /v1/retrieve: the passages the assistant would ground on, without generating."""

from __future__ import annotations

from anyio import to_thread
from fastapi import APIRouter, Depends, Request

from assistant.auth import Principal
from assistant.deps import principal, profile_for, state
from assistant.errors import bad_request
from assistant.grounding import GroundingService, citation
from assistant.protocol import Citation, RetrieveRequest, RetrieveResponse

router = APIRouter()


@router.post("/v1/retrieve", response_model=RetrieveResponse)
async def retrieve(body: RetrieveRequest, request: Request, who: Principal = Depends(principal),
                   grounding: GroundingService = Depends(state("grounding"))) -> RetrieveResponse:
    profile = profile_for(request, who, body.model)
    if body.messages:
        conversation = [{"role": m.role, "content": m.text()} for m in body.messages]
    elif body.query and body.query.strip():
        conversation = [{"role": "user", "content": body.query}]
    else:
        raise bad_request("Give a 'query' or 'messages'.", param="query")
    passages, query, seconds = await to_thread.run_sync(
        lambda: grounding.retrieve(profile, conversation, k=body.k, filters=body.filters, mode=body.mode))
    kept = grounding.relevant(profile, passages)
    request.app.state.metrics.retrieval.labels(profile.name).observe(seconds)
    return RetrieveResponse(model=profile.name, query=query, min_score=profile.retrieval.min_score,
                            mode=body.mode or profile.retrieval.mode,
                            retrieval_ms=round(seconds * 1000, 2),
                            data=[Citation(**citation(i, p)) for i, p in enumerate(kept, start=1)])
