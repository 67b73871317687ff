"""Every error leaves the server as OpenAI's error object with the right status.

    {"error": {"message": "...", "type": "invalid_request_error", "param": null, "code": null}}

Client mistakes are 4xx with a message that says what to fix; an unexpected
server fault is a 500 whose body says only that (the traceback goes to the log).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant.protocol import ErrorDetail, ErrorResponse

log = logging.getLogger("tenor.server")

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable",
}
INTERNAL_ERROR = "The server had an internal error; it has been logged."


MAX_MESSAGE_CHARS = 1000  # an error may quote what the client sent: never all of it


def clip(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, param: str | None = None,
                 code: str | None = None, type: str | None = None, headers: dict | None = None):
        message = clip(message)
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type or _TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        self.headers = headers or {}

    def body(self) -> dict:
        detail = ErrorDetail(message=self.message, type=self.type, param=self.param, code=self.code)
        return ErrorResponse(error=detail).model_dump()

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def bad_request(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


def unauthorized(message: str = "Missing or invalid API key. Send it as 'Authorization: Bearer <key>'.") -> ApiError:
    return ApiError(401, message, code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})


def forbidden(message: str) -> ApiError:
    return ApiError(403, message, code="insufficient_scope")


def not_found(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(404, message, param=param, code=code)


INDEX_UNAVAILABLE = "The document index is unavailable right now; try again shortly."


def unavailable(message: str, retry_after: int = 5, detail: str | None = None) -> ApiError:
    """A 503 in words fit for anyone; ``detail`` (addresses, paths, causes) goes to the log only."""
    if detail:
        log.warning("503 %s (%s)", message, detail)
    return ApiError(503, message, code="engine_unavailable", headers={"Retry-After": str(retry_after)})


def too_large(limit: int) -> ApiError:
    return ApiError(413, f"Request body is larger than the limit of {limit} bytes.", code="request_too_large")


def _validation_error(exc: RequestValidationError) -> ApiError:
    message, param = _validation_message(exc)
    first = (exc.errors() or [{}])[0]
    if first.get("type") == "unsupported_parameter":  # protocol.UNSUPPORTED: OpenAI's own code for it
        return ApiError(400, first["msg"], param=param, code="unsupported_parameter")
    return ApiError(400, message, param=param)


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    errors = exc.errors()
    if not errors:
        return "Invalid request.", None
    first = errors[0]
    if first.get("type") == "json_invalid":
        return "The request body is not valid JSON.", None
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
    param = ".".join(loc) or None
    msg = first.get("msg", "invalid value")
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return (f"Invalid value for '{param}': {msg}{more}" if param else f"{msg}{more}"), param


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into an OpenAI error object."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        return _validation_error(exc).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 404:
            message = f"Unknown path {request.url.path}."
        elif exc.status_code == 405:
            message = f"Method {request.method} is not allowed on {request.url.path}."
        else:
            message = str(exc.detail)
        return ApiError(exc.status_code, message, headers=dict(exc.headers or {})).response()

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        rid = getattr(request.state, "request_id", None)  # set by assistant.request_log
        log.exception("unexpected error on %s %s (request_id=%s)", request.method, request.url.path, rid)
        return ApiError(500, INTERNAL_ERROR, type="api_error",
                        headers={"X-Request-ID": rid} if rid else None).response()


class BodyLimit:
    """ASGI middleware: answer 413 for a body over ``limit`` bytes, declared or streamed."""

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await too_large(self.limit).response()(scope, receive, send)

        seen = 0

        async def limited_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    # FastAPI re-raises an HTTPException met while reading the body;
                    # the handler above turns it into the 413 error object.
                    raise HTTPException(413, detail=too_large(self.limit).message)
            return message

        await self.app(scope, limited_receive, send)
