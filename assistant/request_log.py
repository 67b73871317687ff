"""One log line per request, with a request id, and never a key or a message body by default.

    INFO tenor.request: request_id=3f2a... method=POST path=/v1/chat/completions status=200 ms=812.4 bytes=5321 client=10.0.0.7

The request id is the client's ``X-Request-ID`` when it sends a sane one
(1-128 characters of ``[A-Za-z0-9._:-]``), else a new one; it is sent back in
the response's ``X-Request-ID`` header and kept in ``request.state.request_id``
so other code can name it. Logged: method, path (no query string), status,
duration to the last byte, bytes sent, client address. Not logged: headers
(so never the ``Authorization`` key) and bodies. ``server.log_request_bodies:
true`` adds the first 2 KiB of the request body to the line (message contents:
for debugging only). ``server.log_requests: false`` turns the lines off; the
request id header stays.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

log = logging.getLogger("tenor.request")

HEADER = b"x-request-id"
_SANE_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
_BODY_PREVIEW = 2048


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name.lower() == HEADER and _SANE_ID.match(value):
            return value.decode()
    return uuid.uuid4().hex


class RequestLog:
    """ASGI middleware (outermost): request id in and out, one log line per request."""

    def __init__(self, app, enabled: bool = True, log_bodies: bool = False):
        self.app = app
        self.enabled = enabled
        self.log_bodies = log_bodies

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        rid = request_id_from(scope.get("headers") or [])
        scope.setdefault("state", {})["request_id"] = rid
        started = time.perf_counter()
        status = 0
        sent = 0
        body = bytearray()

        async def logging_receive():
            message = await receive()
            if self.log_bodies and message["type"] == "http.request" and len(body) < _BODY_PREVIEW:
                body.extend(message.get("body", b"")[: _BODY_PREVIEW - len(body)])
            return message

        async def tagging_send(message):
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER]
                message = {**message, "headers": headers + [(HEADER, rid.encode())]}
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, logging_receive if self.log_bodies else receive, tagging_send)
        except Exception:
            status = status or 500  # the error handler outside answers 500 (with this id, see errors.py)
            raise
        finally:
            if self.enabled:
                client = scope.get("client")
                line = (f"request_id={rid} method={scope['method']} path={scope['path']} "
                        f"status={status or 'aborted'} ms={(time.perf_counter() - started) * 1000:.1f} "
                        f"bytes={sent} client={client[0] if client else '-'}")
                if self.log_bodies and body:
                    line += " body=" + bytes(body).decode("utf-8", errors="replace").replace("\n", "\\n")
                log.info(line)
