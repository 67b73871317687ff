"""Admin: load a new adapter version into the running vLLM (hot swap, no restart)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from assistant.auth import Principal
from assistant.deps import admin
from assistant.engine import engine_model, lora_name
from assistant.errors import bad_request
from assistant.protocol import AdapterLoaded, AdapterLoadRequest

router = APIRouter(prefix="/v1/admin/adapters", tags=["admin"])


@router.post("", response_model=AdapterLoaded)
async def load_adapter(body: AdapterLoadRequest, request: Request, who: Principal = Depends(admin)) -> AdapterLoaded:
    """Load or replace (in place, under the same name) a LoRA adapter on vLLM.

    Profiles whose adapter has this name use the new weights from the next request.
    """
    state = request.app.state
    vllm = state.vllm
    if vllm is not None and not vllm.lora_enabled:
        raise bad_request("The managed vLLM runs without LoRA (no profile has an adapter), "
                          "so it cannot take adapters at run time; give a profile an adapter and restart.")
    await state.engine.load_adapter(body.name, body.path)
    if vllm is not None:
        vllm.record_adapter(body.name, body.path)
    users = [n for n, p in state.settings.profiles.items() if p.adapter and lora_name(p.adapter) == body.name]
    return AdapterLoaded(name=body.name, path=body.path, profiles=users)


@router.get("")
async def list_adapters(request: Request, who: Principal = Depends(admin)) -> dict:
    state = request.app.state
    served = await state.engine.models()
    return {"object": "list", "data": [
        {"profile": n, "adapter": p.adapter, "model": engine_model(p), "served": engine_model(p) in served}
        for n, p in state.settings.profiles.items()
    ], "served": served}
