"""The support widget: its script and a demo page.

- ``GET /widget.js``: the current widget, cached for 5 minutes and revalidated
  with its ETag (the version), so a site picks up a new widget within minutes.
- ``GET /widget/<version>.js``: the same bytes under their content hash, cached
  for a year (``immutable``); for sites that pin a version.
- ``GET /demo``: a sample page embedding the widget for the default profile
  (or ``?model=``), with a widget key that allows this server's own origin,
  titled and greeted from the profile (``title``, ``greeting``).
"""

from __future__ import annotations

import hashlib
import html
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from assistant.errors import not_found

router = APIRouter(tags=["widget"])

STATIC = Path(__file__).parent / "static"
JS = "text/javascript; charset=utf-8"
SHORT_CACHE = "public, max-age=300"
LONG_CACHE = "public, max-age=31536000, immutable"


@lru_cache(maxsize=1)
def widget() -> tuple[bytes, str]:
    """The widget's bytes and version (the first 12 hex digits of their SHA-256)."""
    body = (STATIC / "widget.js").read_bytes()
    return body, hashlib.sha256(body).hexdigest()[:12]


def _etag_matches(request: Request, etag: str) -> bool:
    tags = [t.strip().removeprefix("W/") for t in request.headers.get("if-none-match", "").split(",")]
    return etag in tags or "*" in tags


def _script(request: Request, cache: str) -> Response:
    body, version = widget()
    etag = f'"{version}"'
    headers = {"ETag": etag, "Cache-Control": cache, "X-Content-Type-Options": "nosniff"}
    if _etag_matches(request, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=JS, headers=headers)


@router.get("/widget.js", include_in_schema=False)
async def widget_js(request: Request) -> Response:
    return _script(request, SHORT_CACHE)


@router.get("/widget/{version}.js", include_in_schema=False)
async def widget_version_js(version: str, request: Request) -> Response:
    current = widget()[1]
    if version != current:
        raise not_found(f"This server has widget version {current}, not {version}; /widget.js is always current.")
    return _script(request, LONG_CACHE)


@router.get("/demo", response_class=HTMLResponse, include_in_schema=False)
async def demo(request: Request, model: str | None = None) -> HTMLResponse:
    settings = request.app.state.settings
    keys = request.app.state.keys
    name = model or settings.default_profile
    if name not in settings.profiles:
        raise not_found(f"The model '{name}' does not exist. Available: {', '.join(settings.profiles)}.",
                        param="model", code="model_not_found")
    origin = f"{request.url.scheme}://{request.url.netloc}"
    key = ""
    if not keys.enabled:
        note = "Authentication is off (--no-auth): the widget needs no key on this server."
    else:
        key = keys.widget_key_for(name, origin) or ""
        note = (f"The widget uses the widget key configured for {origin}." if key else
                f"No widget key allows this page's origin ({origin}) for '{name}', so the widget will say the "
                f"chat is not available here. Add one to the config and restart the server: api_keys: "
                f"[{{key: pk-CHOOSE-A-KEY, scope: widget, profiles: [{name}], origins: [\"{origin}\"]}}] "
                f"(or try it locally with `tenor serve --no-auth`).")
    profile = settings.profiles[name]
    values = {"MODEL": name, "KEY": key, "NOTE": note, "ORIGIN": origin, "WIDGET_URL": f"/widget/{widget()[1]}.js",
              "TITLE": profile.title or name, "GREETING": profile.greeting or ""}  # "": the widget's own
    page = (STATIC / "demo.html").read_text()
    for placeholder, value in values.items():
        page = page.replace("{{" + placeholder + "}}", html.escape(value, quote=True))
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})
