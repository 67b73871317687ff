"""POST /v1/feedback: thumbs up or down on an answer, with an optional comment and corrected answer;
GET /v1/admin/gaps: what the documents did not cover, and what customers disliked.

Any key that may chat (chat, widget, admin) may rate the answers of the profiles
it may use. Feedback needs the conversation log (`log_conversations` on the
profile): an answer that was not logged cannot be rated.
"""

from __future__ import annotations

from anyio import to_thread
from fastapi import APIRouter, Query, Request

from assistant.conversation_log import UnknownExchange
from assistant.deps import Admin, Caller
from assistant.errors import not_found
from assistant.protocol import FeedbackCreated, FeedbackRequest, GapsReport

router = APIRouter(tags=["feedback"])


@router.post("/v1/feedback", response_model=FeedbackCreated, status_code=201)
async def feedback(body: FeedbackRequest, request: Request, who: Caller) -> FeedbackCreated:
    log = request.app.state.conversations
    missing = not_found(f"No logged answer has the id '{body.response_id}' (answers are logged only for "
                        "profiles with log_conversations: true).", param="response_id", code="response_not_found")
    if log is None:
        raise missing
    profiles = {name for name in request.app.state.settings.profiles if who.may_use(name)}
    try:
        feedback_id = await to_thread.run_sync(lambda: log.add_feedback(
            body.response_id, body.rating, body.comment, body.correction, profiles=profiles))
    except UnknownExchange:
        raise missing from None
    return FeedbackCreated(id=feedback_id, response_id=body.response_id)


@router.get("/v1/admin/gaps")
async def content_gaps(request: Request, who: Admin, model: str | None = None,
                       threshold: float = Query(0.7, ge=0, le=1)) -> GapsReport:
    """Questions the documents did not cover (grouped by meaning) and the most disliked answers."""
    from assistant.gaps import content_gaps as find

    log = request.app.state.conversations
    if log is None:
        raise not_found("The conversation log is off: set log_conversations: true on a profile.",
                        code="log_disabled")
    settings = request.app.state.settings
    profile = settings.profile(model) if model else None
    collection = (profile or settings.profile()).collection
    embed = request.app.state.index_for(collection).embedder.encode
    report = await to_thread.run_sync(lambda: find(log, embed, profile.name if profile else None,
                                                   threshold=threshold))
    return GapsReport(**report.to_dict())
