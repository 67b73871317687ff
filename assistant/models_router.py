"""GET /v1/models: the profiles (the OpenAI ``model`` field names a profile)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from assistant.deps import Caller, profile_for
from assistant.protocol import ModelCard, ModelList

router = APIRouter()


def _card(profile) -> ModelCard:
    return ModelCard(id=profile.name, adapter=profile.adapter, collection=profile.collection,
                     handoff_url=profile.handoff_url)


@router.get("/v1/models", response_model=ModelList)
async def list_models(request: Request, who: Caller) -> ModelList:
    profiles = request.app.state.settings.profiles
    return ModelList(data=[_card(p) for name, p in profiles.items() if who.may_use(name)])


@router.get("/v1/models/{model}", response_model=ModelCard)
async def get_model(model: str, request: Request, who: Caller) -> ModelCard:
    return _card(profile_for(request, who, model))
