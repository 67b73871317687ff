"""API keys: ``Authorization: Bearer <key>``, each key with a scope.

- ``chat``: chat, models and retrieval, on the profiles the key lists (``*`` = all).
- ``widget``: a publishable key for the support widget: like ``chat``, but only
  from a browser page whose ``Origin`` is in the key's ``origins``, and rate
  limited per key and per client IP (429 with ``Retry-After``).
- ``admin``: everything, including documents and adapters.

Any key with ``origins`` is refused (403) when a browser sends another ``Origin``.

Keys come from the config file's ``api_keys`` or the environment
(``TENOR_API_KEYS='[{key: ..., scope: admin}]'``). Keys are compared in
constant time. With no chat or admin key configured, Tenor generates an admin key
(``ensure_keys``). ``--no-auth`` (dev mode) accepts every request as admin.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request

from assistant.errors import ApiError, forbidden, unauthorized
from assistant.ratelimit import RateLimiter, retry_after
from tenor.config import ApiKey, ServerSettings, Settings

GENERATED_KEY_FILE = "admin.key"


@dataclass
class Principal:
    name: str
    scope: str
    profiles: list[str] = field(default_factory=lambda: ["*"])
    origins: list[str] = field(default_factory=list)

    def may_use(self, profile: str) -> bool:
        return self.scope == "admin" or "*" in self.profiles or profile in self.profiles


DEV = Principal(name="no-auth", scope="admin")


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def request_origin(request: Request) -> str | None:
    """The page origin a browser request comes from.

    Browsers send ``Origin`` on every cross-origin request and on same-origin
    POSTs, but not on a same-origin GET; that one they mark ``Sec-Fetch-Site:
    same-origin``, so its origin is the server's own.
    """
    origin = request.headers.get("origin")
    if origin:
        return origin
    if request.headers.get("sec-fetch-site") == "same-origin":
        return f"{request.url.scheme}://{request.url.netloc}"
    return None


def allows_origin(key: ApiKey, origin: str) -> bool:
    return "*" in key.origins or origin in key.origins


class KeyStore:
    def __init__(self, keys: list[ApiKey], enabled: bool = True, limits: ServerSettings | None = None,
                 limiter: RateLimiter | None = None):
        self.enabled = enabled
        self.limits = limits or ServerSettings()
        self.limiter = limiter or RateLimiter()  # tests swap in one with their own clock
        self._keys = [(_digest(k.key), k) for k in keys]

    def lookup(self, presented: str) -> ApiKey | None:
        digest = _digest(presented)
        found = None
        for known, key in self._keys:  # no early exit: timing does not depend on which key
            if hmac.compare_digest(known, digest):
                found = key
        return found

    def widget_key_for(self, profile: str, origin: str) -> str | None:
        """A widget key that may serve ``profile`` on a page at ``origin`` (for the demo page)."""
        for _, key in self._keys:
            if key.scope == "widget" and allows_origin(key, origin) and ("*" in key.profiles or profile in key.profiles):
                return key.key
        return None

    def authenticate(self, request: Request) -> Principal:
        if not self.enabled:
            return DEV
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized()
        key = self.lookup(token.strip())
        if key is None:
            raise unauthorized("Invalid API key.")
        origin = request_origin(request)
        if key.scope == "widget" and origin is None:
            raise forbidden("This is a widget key: it works only from a web page on a site the key allows "
                            "(the request had no Origin header).")
        if origin and key.origins and not allows_origin(key, origin):
            raise forbidden(f"This key may not be used from origin {origin}.")
        self._check_rate(key, request)
        return Principal(name=key.name or f"{key.key[:4]}...", scope=key.scope,
                         profiles=list(key.profiles), origins=list(key.origins))

    def _check_rate(self, key: ApiKey, request: Request) -> None:
        """Per client IP (widget keys), then per key; raise 429 with Retry-After when over."""
        if key.scope == "widget":
            ip = request.client.host if request.client else "unknown"
            wait = self.limiter.acquire(f"ip:{ip}", self.limits.widget_ip_rate_per_minute)
            if wait:
                raise rate_limited(wait, "Too many requests from your address")
        per_minute = key.rate_per_minute
        if per_minute is None and key.scope == "widget":
            per_minute = self.limits.widget_key_rate_per_minute
        wait = self.limiter.acquire(f"key:{_digest(key.key).hex()}", per_minute)
        if wait:
            raise rate_limited(wait, "Too many requests with this key")


def rate_limited(wait_s: float, what: str) -> ApiError:
    after = retry_after(wait_s)
    return ApiError(429, f"{what}; try again in {after} s.", code="rate_limit_exceeded",
                    headers={"Retry-After": after})


def ensure_keys(settings: Settings, no_auth: bool) -> tuple[list[ApiKey], str | None]:
    """The configured keys; with no chat or admin key configured (and auth on), a generated
    admin key as well. Widget keys do not count: they are published in web pages, so a
    config with only widget keys (the quickstart's) would leave the operator no key.

    The generated key is stored in ``$TENOR_HOME/admin.key`` (mode 600) and reused
    on the next start, so `tenor chat` and scripts can read it. Returns the keys
    (the generated one first) and the path of a generated key file, if one is in use.
    """
    if no_auth or any(k.scope != "widget" for k in settings.api_keys):
        return list(settings.api_keys), None
    path = Path(settings.home) / GENERATED_KEY_FILE
    if path.is_file() and len(path.read_text().strip()) >= 8:
        key = path.read_text().strip()
    else:
        key = "tenor-" + secrets.token_urlsafe(24)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(key + "\n")
        path.chmod(0o600)
    return [ApiKey(key=key, scope="admin", name="generated-admin"), *settings.api_keys], str(path)


def read_generated_key(settings: Settings) -> str | None:
    path = Path(settings.home) / GENERATED_KEY_FILE
    try:
        return path.read_text().strip() or None
    except OSError:
        return None
