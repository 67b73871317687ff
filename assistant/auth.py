"""API keys: ``Authorization: Bearer <key>``, each key with a scope.

- ``chat``: chat, models and retrieval, on the profiles the key lists (``*`` = all).
- ``widget``: like ``chat``, for a browser page; its ``origins`` must include
  the page's ``Origin`` when it sends one.
- ``admin``: everything, including documents and adapters.

Keys come from the config file's ``api_keys`` or the environment
(``TENOR_API_KEYS='[{key: ..., scope: admin}]'``). Keys are compared in
constant time. ``--no-auth`` (dev mode) accepts every request as admin.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request

from assistant.errors import forbidden, unauthorized
from tenor.config import ApiKey, Settings

log = logging.getLogger("tenor.server")

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


class KeyStore:
    def __init__(self, keys: list[ApiKey], enabled: bool = True):
        self.enabled = enabled
        self._keys = [(_digest(k.key), k) for k in keys]

    def lookup(self, presented: str) -> ApiKey | None:
        digest = _digest(presented)
        found = None
        for known, key in self._keys:  # no early exit: timing does not depend on which key
            if hmac.compare_digest(known, digest):
                found = key
        return found

    @property
    def origins(self) -> list[str]:
        """Every origin some key allows (the CORS allow-list)."""
        return sorted({o for _, k in self._keys for o in k.origins})

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
        origin = request.headers.get("origin")
        if origin and key.origins and origin not in key.origins and "*" not in key.origins:
            raise forbidden(f"This key may not be used from origin {origin}.")
        if key.scope == "widget" and not key.origins:
            log.warning("widget key %s has no origins configured", key.name or key.key[:4] + "...")
        return Principal(name=key.name or f"{key.key[:4]}...", scope=key.scope,
                         profiles=list(key.profiles), origins=list(key.origins))


def ensure_keys(settings: Settings, no_auth: bool) -> tuple[list[ApiKey], str | None]:
    """The configured keys; with none configured (and auth on), a generated admin key.

    The generated key is stored in ``$TENOR_HOME/admin.key`` (mode 600) and reused
    on the next start, so `tenor chat` and scripts can read it. Returns the keys
    and the path of a generated key file, if one is in use.
    """
    if no_auth or settings.api_keys:
        return list(settings.api_keys), None
    path = Path(settings.home) / GENERATED_KEY_FILE
    if path.is_file() and len(path.read_text().strip()) >= 8:
        key = path.read_text().strip()
    else:
        key = "tenor-" + secrets.token_urlsafe(24)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(key + "\n")
        path.chmod(0o600)
    return [ApiKey(key=key, scope="admin", name="generated-admin")], str(path)


def read_generated_key(settings: Settings) -> str | None:
    path = Path(settings.home) / GENERATED_KEY_FILE
    try:
        return path.read_text().strip() or None
    except OSError:
        return None
