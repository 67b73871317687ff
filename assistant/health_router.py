"""GET /health (liveness), /ready (vLLM and the index answer), /metrics (Prometheus, admin key)."""

from __future__ import annotations

from anyio import to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from assistant.deps import admin
from assistant.protocol import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
async def health() -> Health:
    return Health(status="ok")


@router.get("/ready", response_model=Health, responses={503: {"model": Health}})
async def ready(request: Request):
    state = request.app.state
    checks = {"vllm": "ok" if await state.engine.healthy() else "unavailable"}
    try:
        profile = state.settings.profile()
        await to_thread.run_sync(lambda: state.index_for(profile.collection).ping())
        checks["index"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        checks["index"] = f"unavailable: {exc}"
    ok = all(v == "ok" for v in checks.values())
    body = Health(status="ready" if ok else "not ready", checks=checks).model_dump()
    return JSONResponse(body, status_code=200 if ok else 503, headers={} if ok else {"Retry-After": "5"})


@router.get("/metrics", include_in_schema=False, dependencies=[Depends(admin)])
async def metrics(request: Request) -> Response:
    """Without a key: ``server.metrics_port`` (assistant.metrics)."""
    m = request.app.state.metrics
    return Response(m.render(), media_type=m.content_type)
