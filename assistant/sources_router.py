"""GET /v1/admin/sources (admin only): each configured source's schedule, last run and last error."""

from __future__ import annotations

from anyio import to_thread
from fastapi import APIRouter

from assistant.deps import Admin, Sources
from assistant.protocol import SourceList, SourceStatus

router = APIRouter(prefix="/v1/admin", tags=["sources"])


@router.get("/sources", response_model=SourceList)
async def list_sources(who: Admin, sources: Sources) -> SourceList:
    return SourceList(data=[SourceStatus(**row) for row in await to_thread.run_sync(sources.status)])
