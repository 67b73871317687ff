"""Admin: load a new adapter version into the running vLLM (hot swap, no restart)."""

from __future__ import annotations

from fastapi import APIRouter

from assistant.deps import Adapters, Admin
from assistant.protocol import AdapterList, AdapterLoaded, AdapterLoadRequest

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
