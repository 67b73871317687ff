"""The assistant's FastAPI app: components built once in the lifespan, routers kept thin.

    app = create_app(settings)                 # managed vLLM (or settings.vllm.url)
    app = create_app(settings, engine=Engine("http://127.0.0.1:8100"))  # an engine you built

Nothing imports this module except the server entry points and tests.
"""

from __future__ import annotations

import logging
import threading
from contextlib import asynccontextmanager
from typing import Callable

import anyio
from anyio import to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from assistant import errors
from assistant.adapters_service import AdaptersService, AdaptersUnavailable, HistoryNotWritten
from assistant.auth import KeyStore, ensure_keys
from assistant.chat_service import ChatService
from assistant.conversation_log import ConversationLog
from assistant.documents_service import DocumentError, DocumentNotFound, DocumentsService, PathNotAllowed
from assistant.engine import Engine, EngineError, EngineUnavailable, missing_models
from assistant.grounding import GroundingError, GroundingService
from assistant.metrics import Metrics, RequestMetrics
from assistant.request_log import RequestLog
from assistant.retrieve_service import RetrieveService
from assistant.sources_service import SourcesService
from assistant.vllm_process import VllmProcess
from tenor.adapter_versions import BadRef, NoSuchVersion
from tenor.config import Settings

log = logging.getLogger("tenor.server")


class StartupError(Exception):
    """The server cannot start as configured; the message says why."""


def make_index_for(settings: Settings) -> Callable[[str], object]:
    """collection name -> its ``ingest`` Index, opened once and shared."""
    from ingest.index import open_index

    cache: dict[str, object] = {}
    lock = threading.Lock()

    def index_for(collection: str):
        with lock:
            if collection not in cache:
                cache[collection] = open_index(settings, collection)
            return cache[collection]

    return index_for


def _load_embedder(index_for: Callable[[str], object], collection: str) -> None:
    """Load the query embedder and the BM25 index before the first request; with torch, on one thread.

    The server embeds one short query per request; with vLLM keeping the other
    cores busy, a second torch thread only waits on a busy core (measured here:
    p50 13 ms and max 17 ms on one thread, against max 345 ms on two).
    """
    import sys

    from ingest.index import IndexStoreError

    index = index_for(collection)
    index.embedder
    torch = sys.modules.get("torch")  # absent with a torch-free embedder backend
    if torch is not None:
        torch.set_num_threads(1)
    try:
        index.lexical_index()  # BM25 (and its library's ~2 s import) now, not on the first question
    except IndexStoreError:
        pass  # Chroma not reachable yet: the first search rebuilds, or reports it


def _first_error(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _install_error_mapping(app: FastAPI) -> None:
    from ingest.index import IndexStoreError, IndexUnavailable

    mapping = [
        (EngineError, lambda e: errors.ApiError(e.status, e.message)),
        (EngineUnavailable, lambda e: errors.unavailable(e.message, detail=e.detail)),
        (GroundingError, lambda e: errors.bad_request(str(e), param="filters")),
        (DocumentNotFound, lambda e: errors.not_found(str(e), param=e.param)),
        (PathNotAllowed, lambda e: errors.ApiError(403, str(e), param=e.param, code="path_not_allowed")),
        (DocumentError, lambda e: errors.bad_request(str(e), param=e.param)),
        (AdaptersUnavailable, lambda e: errors.bad_request(str(e))),
        (NoSuchVersion, lambda e: errors.ApiError(404, str(e), code="adapter_version_not_found")),
        (BadRef, lambda e: errors.bad_request(str(e), param="adapter")),
        (HistoryNotWritten, lambda e: errors.ApiError(500, str(e), code="adapter_history_not_written")),
        (IndexUnavailable, lambda e: errors.unavailable(errors.INDEX_UNAVAILABLE, detail=str(e))),
        (IndexStoreError, lambda e: errors.bad_request(str(e))),
    ]
    for exc_type, to_api in mapping:
        def handler(request, exc, to_api=to_api):
            return to_api(exc).response()
        app.add_exception_handler(exc_type, handler)


def _serve_metrics(app: FastAPI, metrics: Metrics, settings: Settings):
    host, port = settings.server.host, settings.server.metrics_port
    try:
        server = metrics.serve(host, port)
    except OSError as exc:
        app.state.startup_error = StartupError(f"cannot serve metrics on {host}:{port} (server.metrics_port): {exc}")
        raise app.state.startup_error from exc
    app.state.metrics_port = server.server_port
    return server


def create_app(
    settings: Settings,
    *,
    no_auth: bool = False,
    engine: Engine | None = None,
    vllm: VllmProcess | None = None,
    on_vllm_log: Callable[[str], None] | None = None,
    index_for: Callable[[str], object] | None = None,
) -> FastAPI:
    """The app. Without ``engine``: external vLLM if ``settings.vllm.url``, else a managed one
    (``vllm``, or one built here) started in the lifespan."""
    keys, generated = ensure_keys(settings, no_auth or not settings.server.auth)
    keystore = KeyStore(keys, enabled=not (no_auth or not settings.server.auth), limits=settings.server)
    if not keystore.enabled:
        log.warning("authentication is OFF (--no-auth): anyone who can reach this port is an admin")
    metrics = Metrics()
    index_for = index_for or make_index_for(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        managed = vllm
        client = engine
        if client is None and settings.vllm.url:
            client = Engine(settings.vllm.url, settings.vllm.api_key)
            problems = await missing_models(client, settings.profiles)
            if problems:
                await client.aclose()
                app.state.startup_error = StartupError("\n".join(problems))
                raise app.state.startup_error
        elif client is None:
            managed = managed or VllmProcess(settings, on_log=on_vllm_log)
        started_here = managed is not None and not managed.running
        grounding = GroundingService(settings, index_for)
        try:
            for profile in settings.profiles.values():  # a reader that cannot load stops the start before vLLM's
                if (reader := grounding.reader(profile)) is not None:
                    await to_thread.run_sync(reader.load)
            if started_here:
                # The merge (merged mode) imports transformers and peft; the embedder's loading imports
                # transformers too, and the two in parallel threads broke transformers' lazy imports
                # ("cannot import name 'AutoModel'"), so the merge comes first.
                await to_thread.run_sync(managed.prepare)
            async with anyio.create_task_group() as group:  # load the embedder while vLLM starts
                group.start_soon(to_thread.run_sync, _load_embedder, index_for, settings.profile().collection)
                if started_here:
                    group.start_soon(managed.astart)
        except BaseException as exc:
            app.state.startup_error = _first_error(exc)  # for `serve` to report plainly
            if started_here:
                await to_thread.run_sync(managed.stop)
            raise
        if managed is not None:
            client = client or Engine(managed.url, settings.vllm.api_key)
            metrics.track_vllm(managed)
        for profile in settings.profiles.values():  # load each base model's tokenizer now, not on a request
            grounding.meter_for(profile)
        app.state.engine = client
        app.state.vllm = managed
        app.state.grounding = grounding
        if any(p.log_conversations for p in settings.profiles.values()):
            app.state.conversations = await to_thread.run_sync(ConversationLog.from_settings, settings)
        app.state.adapters = AdaptersService(settings, client, managed)
        app.state.chat = ChatService(settings, grounding, client, metrics, conversations=app.state.conversations,
                                     version_of=app.state.adapters.version_of)
        app.state.documents = DocumentsService(settings, index_for)
        app.state.retrieval = RetrieveService(grounding, metrics)
        app.state.sources = SourcesService(settings)
        app.state.sources.start()
        metrics_server = None
        try:
            if settings.server.metrics_port is not None:
                metrics_server = _serve_metrics(app, metrics, settings)
            yield
        finally:
            if metrics_server is not None:
                metrics_server.shutdown()
                metrics_server.server_close()
            await to_thread.run_sync(app.state.sources.stop)
            if app.state.conversations is not None:
                app.state.conversations.close()
            await client.aclose()
            if started_here:
                await to_thread.run_sync(managed.stop)

    app = FastAPI(title="Tenor assistant", version="0.1.0", lifespan=lifespan,
                  description="OpenAI-compatible chat, grounded in your documents, served by vLLM.")
    app.state.settings = settings
    app.state.keys = keystore
    app.state.generated_key_file = generated
    app.state.metrics = metrics
    app.state.index_for = index_for
    app.state.conversations = None  # the conversation log, opened in the lifespan when a profile logs
    errors.install(app)
    _install_error_mapping(app)

    from assistant import (adapters_router, chat_router, documents_router, feedback_router, health_router,
                           models_router, retrieve_router, sources_router, widget_router)

    for module in (chat_router, models_router, retrieve_router, documents_router, adapters_router, health_router,
                   widget_router, sources_router, feedback_router):
        app.include_router(module.router)

    # CORS answers every origin: keys are bearer tokens (no cookies), and each key's own
    # origin allow-list is enforced in auth, so a page on a refused site reads a clear 403.
    app.add_middleware(CORSMiddleware, allow_origin_regex=".*", allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
                       allow_headers=["Authorization", "Content-Type"], expose_headers=["Retry-After"], max_age=600)
    app.add_middleware(errors.BodyLimit, limit=settings.server.max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=metrics)
    app.add_middleware(RequestLog, enabled=settings.server.log_requests,  # outermost: sees every answer
                       log_bodies=settings.server.log_request_bodies)
    return app
