"""GET /health (liveness), /ready (vLLM and the index answer), /metrics (Prometheus, admin key)."""

from __future__ import annotations

import logging

from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from assistant.deps import Admin
from assistant.protocol import Health

log = logging.getLogger("tenor.server")
router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
async def health() -> Health:
    return Health(status="ok")


@router.get("/ready", response_model=Health, responses={503: {"model": Health}})
async def ready(request: Request):
    state = request.app.state
    supervisor = state.vllm.status() if state.vllm is not None else None
    if supervisor and supervisor.get("last_error"):  # it may name paths: log only (no key is needed here)
        log.warning("/ready: vLLM supervisor: %s", supervisor["last_error"])
        supervisor = {**supervisor, "last_error": None}
    up = await state.engine.healthy() and (supervisor is None or supervisor["state"] == "ready")
    checks = {"vllm": "ok" if up else "unavailable" + _why(supervisor)}
    try:
        profile = state.settings.profile()
        await to_thread.run_sync(lambda: state.index_for(profile.collection).ping())
        checks["index"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        log.warning("/ready: the index is unavailable: %s", exc)  # the cause may name paths: log only
        checks["index"] = "unavailable"
    ok = all(v == "ok" for v in checks.values())
    body = Health(status="ready" if ok else "not ready", checks=checks, vllm=supervisor).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=200 if ok else 503, headers={} if ok else {"Retry-After": "5"})


def _why(supervisor: dict | None) -> str:
    """What the managed vLLM's supervisor is doing about it, e.g. ': restarting (2 attempts failed; ...)'."""
    if supervisor is None:
        return ""
    parts = [f"{supervisor['failed_restarts']} restart attempts failed"] if supervisor["failed_restarts"] else []
    if supervisor["next_attempt_in_s"] is not None:
        parts.append(f"next attempt in {supervisor['next_attempt_in_s']:.0f} s")
    return f": {supervisor['state']}" + (f" ({'; '.join(parts)})" if parts else "")


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, who: Admin) -> Response:
    """Without a key: ``server.metrics_port`` (assistant.metrics)."""
    m = request.app.state.metrics
    return Response(m.render(), media_type=m.content_type)
