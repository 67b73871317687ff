"""Retrieval alone: the passages a chat answer would be grounded on, without generating.

No HTTP here: ``retrieve`` returns a ``RetrieveResponse``; the router only parses and replies.
"""

from __future__ import annotations

from assistant.grounding import GroundingService, citation
from assistant.metrics import Metrics
from assistant.protocol import Citation, RetrieveResponse
from tenor.config import Profile


class RetrieveService:
    def __init__(self, grounding: GroundingService, metrics: Metrics):
        self.grounding = grounding
        self.metrics = metrics

    def retrieve(self, profile: Profile, conversation: list[dict], k: int | None = None,
                 filters: dict | None = None, mode: str | None = None) -> RetrieveResponse:
        passages, query, seconds = self.grounding.retrieve(profile, conversation, k=k, filters=filters, mode=mode)
        kept = self.grounding.relevant(profile, passages)
        self.metrics.retrieval.labels(profile.name).observe(seconds)
        return RetrieveResponse(model=profile.name, query=query, min_score=profile.retrieval.min_score,
                                mode=mode or profile.retrieval.mode, retrieval_ms=round(seconds * 1000, 2),
                                data=[Citation(**citation(i, p)) for i, p in enumerate(kept, start=1)])
