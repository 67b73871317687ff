"""FastAPI dependencies: the components built once in the lifespan, and the caller's key.

A router names what it needs by type: ``who: Admin``, ``chat: Chat``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from assistant.adapters_service import AdaptersService
from assistant.auth import Principal
from assistant.chat_service import ChatService
from assistant.documents_service import DocumentsService
from assistant.errors import forbidden, not_found
from assistant.retrieve_service import RetrieveService
from assistant.sources_service import SourcesService
from tenor.config import Profile


def principal(request: Request) -> Principal:
    return request.app.state.keys.authenticate(request)


def admin(who: Principal = Depends(principal)) -> Principal:
    if who.scope != "admin":
        raise forbidden("This endpoint needs a key with the 'admin' scope.")
    return who


def profile_for(request: Request, who: Principal, model: str | None) -> Profile:
    """The profile a request's ``model`` names (default: the default profile), if the key may use it."""
    settings = request.app.state.settings
    name = model or settings.default_profile
    profile = settings.profiles.get(name)
    if profile is None:  # name only the profiles this key may use: the others are not its business
        available = [p for p in settings.profiles if who.may_use(p)]
        raise not_found(f"The model '{name}' does not exist. Available: {', '.join(available) or 'none'}.",
                        param="model", code="model_not_found")
    if not who.may_use(name):
        raise forbidden(f"This key may not use the model '{name}'.")
    return profile


def collection_for(request: Request, who: Principal, model: str | None, collection: str | None) -> str:
    if collection:
        return collection
    return profile_for(request, who, model).collection


def _chat(request: Request) -> ChatService:
    return request.app.state.chat


def _documents(request: Request) -> DocumentsService:
    return request.app.state.documents


def _retrieval(request: Request) -> RetrieveService:
    return request.app.state.retrieval


def _adapters(request: Request) -> AdaptersService:
    return request.app.state.adapters


def _sources(request: Request) -> SourcesService:
    return request.app.state.sources


Caller = Annotated[Principal, Depends(principal)]
Admin = Annotated[Principal, Depends(admin)]
Chat = Annotated[ChatService, Depends(_chat)]
Documents = Annotated[DocumentsService, Depends(_documents)]
Retrieval = Annotated[RetrieveService, Depends(_retrieval)]
Adapters = Annotated[AdaptersService, Depends(_adapters)]
Sources = Annotated[SourcesService, Depends(_sources)]
