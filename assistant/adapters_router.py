"""Admin: load a new adapter version into the running vLLM (hot swap, no restart)."""

from __future__ import annotations

from fastapi import APIRouter

from assistant.deps import Adapters, Admin
from assistant.protocol import (AdapterList, AdapterLoaded, AdapterLoadRequest, AdapterPromoteRequest,
                                AdapterRollbackRequest, AdapterVersionChange)

router = APIRouter(prefix="/v1/admin/adapters", tags=["admin"])


@router.post("", response_model=AdapterLoaded)
async def load_adapter(body: AdapterLoadRequest, who: Admin, adapters: Adapters) -> AdapterLoaded:
    """Load or replace (in place, under the same name) a LoRA adapter on vLLM.

    Profiles whose adapter has this name use the new weights from the next request.
    """
    return await adapters.load(body.name, body.path)


@router.get("", response_model=AdapterList)
async def list_adapters(who: Admin, adapters: Adapters) -> AdapterList:
    return await adapters.listing()


@router.post("/promote", response_model=AdapterVersionChange)
async def promote(body: AdapterPromoteRequest, who: Admin, adapters: Adapters) -> AdapterVersionChange:
    """Serve version NAME@N under the name NAME (hot swap, no restart) and record it in the history.

    The eval gate is `tenor adapters promote`'s, which calls this once a candidate has passed.
    """
    return await adapters.promote(body.adapter, body.gate)


@router.post("/rollback", response_model=AdapterVersionChange)
async def rollback(body: AdapterRollbackRequest, who: Admin, adapters: Adapters) -> AdapterVersionChange:
    """Serve the version promoted before the serving one again (hot swap) and record it."""
    return await adapters.rollback(body.name)
