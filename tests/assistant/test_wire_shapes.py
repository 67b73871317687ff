"""protocol.py is the only writer of wire shapes; routers take their components by type."""

from __future__ import annotations

import ast

from assistant.errors import ApiError
from assistant.protocol import ChatCompletionChunk, ChunkChoice, Delta, Usage
from tests.conftest import REPO

# Keys that only OpenAI's (or Tenor's) wire shapes have: a dict literal with one of them is a shape by hand.
WIRE_KEYS = {"object", "choices", "delta", "finish_reason", "error", "citations"}


def _hand_written_shapes(path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Dict):
            keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
            if keys & WIRE_KEYS:
                found.append(f"{path.name}:{node.lineno} {sorted(keys & WIRE_KEYS)}")
    return found


def test_only_protocol_writes_wire_shapes():
    modules = sorted(p for p in (REPO / "assistant").glob("*.py") if p.name != "protocol.py")
    assert [shape for path in modules for shape in _hand_written_shapes(path)] == []


def test_routers_take_components_by_type():
    """``who: Admin``, ``chat: Chat`` (deps.py), not ``Depends(state("chat"))`` in each signature."""
    untyped = []
    for path in sorted((REPO / "assistant").glob("*_router.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Depends":
                untyped.append(f"{path.name}:{node.lineno}")
    assert untyped == []


def test_stream_chunks_carry_only_what_openai_sends():
    first = ChatCompletionChunk(id="c1", created=1, model="m", citations=[],
                                choices=[ChunkChoice(delta=Delta(role="assistant", content=""))]).model_dump()
    middle = ChatCompletionChunk(id="c1", created=1, model="m", choices=[ChunkChoice(delta=Delta(content="Hi"))])
    last = ChatCompletionChunk(id="c1", created=1, model="m", choices=[], usage=Usage(completion_tokens=2, total_tokens=2))
    assert first == {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m", "citations": [],
                     "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                  "finish_reason": None, "logprobs": None}]}
    assert middle.model_dump()["choices"][0]["delta"] == {"content": "Hi"} and "citations" not in middle.model_dump()
    assert "usage" not in middle.model_dump()
    assert last.model_dump()["usage"] == {"prompt_tokens": 0, "completion_tokens": 2, "total_tokens": 2}


def test_error_body_is_openais_error_object():
    assert ApiError(503, "vLLM is down", code="engine_unavailable").body() == {
        "error": {"message": "vLLM is down", "type": "service_unavailable", "param": None,
                  "code": "engine_unavailable"}}
