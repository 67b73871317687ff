"""Every request and response shape of the assistant's HTTP API, in one place.

The chat shapes mirror OpenAI's wire format, so stock clients (the `openai`
package, LangChain, curl scripts) work unchanged. Unknown fields a client sends
are tolerated, as OpenAI tolerates them. Tenor's extensions are additive:
``citations``, ``groundedness`` and ``answer_outcome`` on responses and stream
chunks, and ``retrieval`` / ``filters`` on requests (the openai client sends
them with ``extra_body``).
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer, model_validator
from pydantic_core import PydanticCustomError


class _Lenient(BaseModel):
    """A request shape: unknown fields are accepted and ignored."""

    model_config = ConfigDict(extra="ignore")


def _invalid_unicode_at(value: Any, path: str = "") -> str | None:
    """Where ``value`` holds a string that is not valid Unicode (a lone surrogate such as \\ud800), if anywhere."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path or "body"
    elif isinstance(value, dict):
        for key, item in value.items():
            found = _invalid_unicode_at(key, path) or _invalid_unicode_at(item, f"{path}.{key}".lstrip("."))
            if found:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = _invalid_unicode_at(item, f"{path}.{i}".lstrip("."))
            if found:
                return found
    return None


class _Request(_Lenient):
    """A request body. JSON may escape a lone surrogate (``"\\ud800"``), which no tokenizer,
    embedder or UTF-8 writer accepts: it is refused here, before anything reads it."""

    @model_validator(mode="before")
    @classmethod
    def _valid_unicode(cls, data: Any) -> Any:
        where = _invalid_unicode_at(data)
        if where:
            raise ValueError(f"'{where}' is not valid Unicode (it holds a lone surrogate such as \\ud800); "
                             "send UTF-8 text")
        return data


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


# -- chat ---------------------------------------------------------------------

class ChatMessage(_Lenient):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None

    def text(self) -> str:
        """The message's text (content parts of type text joined; others ignored)."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")


class StreamOptions(_Lenient):
    include_usage: bool = False


# OpenAI parameters Tenor does not implement, each with the values that ask for nothing
# (clients send some by default, e.g. `logprobs: false`) and why any other value is refused:
# answering as if the field were absent would silently give the client something else.
UNSUPPORTED: dict[str, tuple[tuple[Any, ...], str]] = {
    "tools": ((None, []), "Tenor answers from its documents and does not call tools"),
    "functions": ((None, []), "Tenor answers from its documents and does not call functions"),
    "tool_choice": ((None, "none", "auto"), "Tenor does not call tools"),
    "function_call": ((None, "none", "auto"), "Tenor does not call functions"),
    "response_format": ((None, {"type": "text"}), "Tenor answers in text (with citations), not in JSON"),
    "logprobs": ((None, False), "Tenor does not return log probabilities"),
    "top_logprobs": ((None, 0), "Tenor does not return log probabilities"),
}


class ChatCompletionRequest(_Request):
    model: str | None = Field(None, description="profile name; default: the configured default profile")
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int = Field(1, ge=1, le=8)
    user: str | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    # Tenor extensions.
    retrieval: bool = Field(True, description="ground the answer in retrieved passages")
    adapter: str | None = Field(None, description="admin keys only: answer with this loaded LoRA adapter "
                                "(e.g. a candidate version, NAME@N) instead of the profile's")
    filters: dict[str, Any] | None = Field(None, description="document metadata filter, e.g. {\"document_id\": \"warranty.pdf\"}")
    # Not supported: only a value that asks for nothing is accepted (see UNSUPPORTED).
    tools: Any = Field(None, description="not supported: null or [] only")
    functions: Any = Field(None, description="not supported: null or [] only")
    tool_choice: Any = Field(None, description="not supported: null, \"none\" or \"auto\" only")
    function_call: Any = Field(None, description="not supported: null, \"none\" or \"auto\" only")
    response_format: Any = Field(None, description="not supported: null or {\"type\": \"text\"} only")
    logprobs: Any = Field(None, description="not supported: null or false only")
    top_logprobs: Any = Field(None, description="not supported: null or 0 only")

    @field_validator(*UNSUPPORTED)
    @classmethod
    def _asks_for_nothing(cls, value: Any, info) -> Any:
        harmless, why = UNSUPPORTED[info.field_name]
        if not any(value == ok and type(value) is type(ok) for ok in harmless):
            raise PydanticCustomError("unsupported_parameter", "Unsupported parameter: '{param}': {why}.",
                                      {"param": info.field_name, "why": why})
        return value

    @field_validator("messages")
    @classmethod
    def _has_user_turn(cls, messages: list[ChatMessage]) -> list[ChatMessage]:
        if not any(m.role == "user" for m in messages):
            raise ValueError("messages must contain at least one user message")
        return messages

    def conversation(self) -> list[dict]:
        """The messages as plain dicts for the prompt builder (developer = system)."""
        out = []
        for m in self.messages:
            role = "system" if m.role == "developer" else m.role
            if role == "tool":
                continue
            out.append({"role": role, "content": m.text()})
        return out

    @property
    def requested_max_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class Citation(_Out):
    """One passage the answer was grounded on; ``index`` is its [n] marker."""

    index: int
    document_id: str
    section: str | None = None
    page: int | None = None
    text: str
    score: float  # dense cosine similarity (what retrieval.min_score gates)
    dense_score: float | None = None
    lexical_score: float | None = None  # BM25
    fused_score: float | None = None  # reciprocal rank fusion (hybrid retrieval)
    url: str | None = Field(None, description="the document's public page (web and export sources, "
                            "folders with url_prefix)")
    support: float | None = Field(None, description="how well it supports the answer's sentences (0-1)")
    sentences: list[str] | None = Field(None, description="the answer's sentences it supports")


ANSWER_OUTCOMES = "shipped | annotated | extract | no_answer | refused"


class ResponseMessage(_Out):
    role: Literal["assistant"] = "assistant"
    content: str | None = None


class Choice(_Out):
    index: int = 0
    message: ResponseMessage
    finish_reason: str | None = "stop"
    logprobs: Any = None


class Usage(_Out):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


class ChatCompletion(_Out):
    id: str = Field(default_factory=completion_id)
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str
    choices: list[Choice]
    usage: Usage | None = None
    citations: list[Citation] = Field(default_factory=list)
    groundedness: float | None = Field(
        None, description="share of the model's factual sentences the passages support (null: none to check)")
    answer_outcome: str | None = Field(None, description=f"what the answer policy shipped: {ANSWER_OUTCOMES}")


class Delta(_Out):
    role: Literal["assistant"] | None = None
    content: str | None = None

    @model_serializer(mode="wrap")
    def _only_what_changes(self, handler) -> dict:
        # As OpenAI streams: {"role": ..., "content": ""} first, then {"content": ...}, then {}.
        return {key: value for key, value in handler(self).items() if value is not None}


class ChunkChoice(_Out):
    index: int = 0
    delta: Delta
    finish_reason: str | None = None
    logprobs: Any = None


class ChatCompletionChunk(_Out):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str
    choices: list[ChunkChoice] = Field(default_factory=list)
    usage: Usage | None = None
    citations: list[Citation] | None = None
    groundedness: float | None = None
    answer_outcome: str | None = None

    @model_serializer(mode="wrap")
    def _extras_only_where_sent(self, handler) -> dict:
        # ``usage`` only on the last chunk (when asked for); ``citations`` on the first and on the
        # attribution chunk, which alone carries ``groundedness`` and ``answer_outcome``.
        data = handler(self)
        optional = ("usage", "citations", "groundedness", "answer_outcome")
        return {key: value for key, value in data.items() if key not in optional or value is not None}


# -- models ---------------------------------------------------------------------

class ModelCard(_Out):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "tenor"
    adapter: str | None = None
    collection: str | None = None
    handoff_url: str | None = Field(None, description="where a customer who wants a person is sent (the widget's link)")


class ModelList(_Out):
    object: Literal["list"] = "list"
    data: list[ModelCard]


# -- retrieval --------------------------------------------------------------------

class RetrieveRequest(_Request):
    model: str | None = None
    query: str | None = None
    messages: list[ChatMessage] | None = None
    k: int | None = Field(None, ge=1, le=50)
    filters: dict[str, Any] | None = None
    mode: Literal["hybrid", "dense"] | None = None  # default: the profile's retrieval.mode

    @field_validator("messages")
    @classmethod
    def _non_empty(cls, messages):
        if messages is not None and not messages:
            raise ValueError("messages must not be empty")
        return messages

    def conversation(self) -> list[dict] | None:
        """The conversation to retrieve on: ``messages``, else ``query`` as one user turn; None if neither."""
        if self.messages:
            return [{"role": m.role, "content": m.text()} for m in self.messages]
        if self.query and self.query.strip():
            return [{"role": "user", "content": self.query}]
        return None


class RetrieveResponse(_Out):
    object: Literal["list"] = "list"
    model: str
    query: str
    data: list[Citation]
    min_score: float
    mode: Literal["hybrid", "dense"]
    retrieval_ms: float


# -- documents (admin) ------------------------------------------------------------

class Document(_Out):
    object: Literal["document"] = "document"
    id: str
    source: str
    content_hash: str
    chunks: int
    ingested_at: str
    title: str | None = None
    collection: str


class DocumentList(_Out):
    object: Literal["list"] = "list"
    data: list[Document]


class DocumentDeleted(_Out):
    id: str
    object: Literal["document.deleted"] = "document.deleted"
    deleted: bool = True


class ReindexRequest(_Request):
    path: str = Field(description="a file or folder on the server to index")
    collection: str | None = Field(None, description="default: the profile's collection")
    model: str | None = Field(None, description="profile whose collection to use")
    prune: bool = Field(False, description="remove documents that are no longer in the folder")


class IngestResult(_Out):
    object: Literal["ingest.result"] = "ingest.result"
    collection: str
    added: int
    updated: int
    unchanged: int
    removed: int
    failed: int
    chunks: int
    seconds: float
    failures: list[dict[str, str]] = Field(default_factory=list)


# -- adapters (admin) ---------------------------------------------------------------

class AdapterLoadRequest(_Request):
    name: str = Field(min_length=1, description="the adapter (LoRA module) name profiles refer to")
    path: str = Field(min_length=1, description="the adapter folder, as the vLLM server sees it")


class AdapterLoaded(_Out):
    object: Literal["adapter"] = "adapter"
    name: str
    path: str
    profiles: list[str]


class AdapterPromoteRequest(_Request):
    adapter: str = Field(min_length=1, description="the version to serve, NAME@N")
    gate: dict[str, Any] | None = Field(None, description="the eval figures that admitted it, kept in the history")


class AdapterRollbackRequest(_Request):
    name: str = Field(min_length=1, description="the adapter name whose previous version serves again")


class AdapterVersionChange(_Out):
    object: Literal["adapter.version"] = "adapter.version"
    action: Literal["promote", "rollback"]
    name: str
    serving: str  # NAME@N now answering
    previous: str | None = None
    profiles: list[str]


class ProfileAdapter(_Out):
    """One profile's adapter, the version it holds, and whether vLLM serves it now."""

    profile: str
    adapter: str | None = None
    version: str | None = None
    model: str
    served: bool


class AdapterList(_Out):
    object: Literal["list"] = "list"
    data: list[ProfileAdapter]
    served: list[str]  # every model name vLLM serves


# -- errors and health -------------------------------------------------------------------

class ErrorDetail(_Out):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(_Out):
    error: ErrorDetail


class Health(_Out):
    status: str
    checks: dict[str, str] = Field(default_factory=dict)
    vllm: dict[str, Any] | None = Field(None, description="the managed vLLM's supervisor: state, restarts, "
                                        "failed_restarts, last_error, next_attempt_in_s (managed mode only)")


# -- sources ---------------------------------------------------------------------

class SourceStatus(_Out):
    """One configured source: its schedule and how its last run went (times: Unix seconds)."""

    name: str
    type: Literal["folder", "web", "jsonl"]
    profile: str
    collection: str
    every: str | None = None
    running: bool = False
    last_started: float | None = None
    last_finished: float | None = None
    next_run: float | None = None
    last_summary: dict[str, Any] | None = Field(None, description="added, updated, unchanged, removed, failed, failures, "
                                                "requests, complete, seconds")
    last_error: str | None = None


class SourceList(_Out):
    object: Literal["list"] = "list"
    data: list[SourceStatus]


# -- feedback ----------------------------------------------------------------------

class FeedbackRequest(_Request):
    response_id: str = Field(min_length=1, max_length=64, description="the `id` of the chat completion rated")
    rating: Literal["up", "down"]
    comment: str | None = Field(None, max_length=2000, description="what was wrong (or right)")
    correction: str | None = Field(None, max_length=8000, description="the answer it should have given")


class FeedbackCreated(_Out):
    object: Literal["feedback"] = "feedback"
    id: int
    response_id: str


class GapsReport(_Out):
    """``assistant.gaps``' report (unanswered questions grouped by meaning, disliked answers), as its fields."""

    object: Literal["gaps"] = "gaps"
