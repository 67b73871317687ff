"""The client for vLLM's OpenAI-compatible HTTP API: the only code that calls vLLM.

vLLM generates every token. A profile's adapter is selected by its LoRA module
name in the ``model`` field (a profile without an adapter uses the base
model's served name). Connection failures become ``EngineUnavailable`` (the
server answers 503 with Retry-After, in words that name no internal address;
the ``detail`` with vLLM's URL and the cause goes to the log); vLLM's own 4xx
answers become ``EngineError`` with the same status and vLLM's message.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import AsyncIterator

import httpx

from tenor.config import Profile


class EngineError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class EngineUnavailable(EngineError):
    """``message`` is for clients (no URL, no internals); ``detail`` is for the log and the operator."""

    def __init__(self, message: str, detail: str):
        super().__init__(503, message)
        self.detail = detail

    def __str__(self) -> str:
        return self.detail


def lora_name(adapter: str) -> str:
    """The LoRA module name for a profile's ``adapter`` setting (a name, or a path's last part)."""
    text = adapter.rstrip("/\\")
    return Path(text).name if ("/" in text or "\\" in text) else text


def engine_model(profile: Profile) -> str:
    """What goes in vLLM's ``model`` field for this profile."""
    return lora_name(profile.adapter) if profile.adapter else profile.base_model


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            return str(err.get("message") or err.get("detail") or err)[:500]
        return str(body.get("message") or body.get("detail") or err)[:500]
    return str(body)[:500]


def _error_message_of(body: dict) -> str:
    err = body.get("error")
    return str(err.get("message") if isinstance(err, dict) else err)[:500]


class Engine:
    def __init__(self, base_url: str, api_key: str | None = None, timeout_s: float = 600.0):
        self.base_url = base_url.rstrip("/")
        if self.base_url.endswith("/v1"):
            self.base_url = self.base_url[: -len("/v1")]
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.AsyncClient(
            base_url=self.base_url, headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=5.0),
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _send(self, method: str, path: str, stream: bool = False, **kwargs) -> httpx.Response:
        request = self.client.build_request(method, path, **kwargs)
        try:
            response = await self.client.send(request, stream=stream)
        except (httpx.TransportError, OSError) as exc:
            raise EngineUnavailable("The language model is unavailable right now; try again shortly.",
                                    f"vLLM at {self.base_url} is unavailable: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            if stream:
                await response.aread()
                await response.aclose()
            message = _error_message(response)
            if response.status_code >= 500:
                raise EngineUnavailable("The language model failed to answer; try again shortly.",
                                        f"vLLM at {self.base_url} failed ({response.status_code}): {message}")
            raise EngineError(response.status_code, message)
        return response

    async def chat(self, payload: dict) -> dict:
        """One non-streaming chat completion; vLLM's response as a dict."""
        response = await self._send("POST", "/v1/chat/completions", json={**payload, "stream": False})
        return response.json()

    async def stream_chat(self, payload: dict) -> AsyncIterator[dict]:
        """Open a streaming chat completion; errors are raised here, before any chunk.

        Returns an async iterator of the chunks (dicts) up to ``data: [DONE]``.
        """
        response = await self._send("POST", "/v1/chat/completions", stream=True,
                                     json={**payload, "stream": True})
        return self._chunks(response)

    async def _chunks(self, response: httpx.Response) -> AsyncIterator[dict]:
        try:
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                try:
                    chunk = json.loads(data)
                except ValueError:
                    raise EngineUnavailable("The language model sent a malformed stream chunk.",
                                            f"vLLM sent a malformed stream chunk: {data[:200]!r}") from None
                if isinstance(chunk, dict) and "error" in chunk:  # vLLM failed after the stream started
                    raise EngineUnavailable("The language model failed mid-stream.",
                                            f"vLLM failed mid-stream: {_error_message_of(chunk)}")
                yield chunk
            # the connection closed without vLLM's [DONE]: vLLM died (a clean close is no answer)
            raise EngineUnavailable("The language model's stream broke off.",
                                    "vLLM's stream ended without [DONE]")
        except (httpx.TransportError, OSError) as exc:
            raise EngineUnavailable("The language model's stream broke off.",
                                    f"vLLM stream broke off: {type(exc).__name__}: {exc}") from exc
        finally:
            await response.aclose()

    async def models(self) -> list[str]:
        response = await self._send("GET", "/v1/models")
        return [m.get("id") for m in response.json().get("data", [])]

    async def healthy(self) -> bool:
        try:
            response = await self.client.get("/health", timeout=3.0)
        except (httpx.TransportError, OSError):
            return False
        return response.status_code == 200

    async def load_adapter(self, name: str, path: str) -> None:
        """Load (or replace in place) a LoRA module on the running vLLM."""
        await self._send("POST", "/v1/load_lora_adapter",
                         json={"lora_name": name, "lora_path": path, "load_inplace": True})


async def missing_models(engine: Engine, profiles: dict[str, Profile]) -> list[str]:
    """Problems, one line each, for profiles whose adapter or model vLLM does not serve."""
    served = set(await engine.models())
    problems = []
    for name, profile in profiles.items():
        wanted = engine_model(profile)
        if wanted not in served:
            what = f"adapter {wanted!r}" if profile.adapter else f"base model {wanted!r}"
            problems.append(
                f"profile {name!r} needs {what}, which the vLLM at {engine.base_url} does not serve "
                f"(it serves: {', '.join(sorted(served)) or 'nothing'})"
            )
    return problems
