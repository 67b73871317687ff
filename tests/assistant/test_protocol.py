"""The wire shapes: OpenAI's, tolerant of unknown fields, with additive extensions."""

import pytest
from pydantic import ValidationError

from assistant.protocol import ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, Choice, ResponseMessage


def test_request_tolerates_unknown_fields_and_reads_content_parts():
    req = ChatCompletionRequest.model_validate({
        "model": "larkfield", "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "How long is "}, {"type": "text", "text": "the warranty?"}]},
        ],
        "logit_bias": {}, "parallel_tool_calls": False, "some_future_field": 1,
    })
    assert req.conversation() == [{"role": "system", "content": "Be brief."},
                                  {"role": "user", "content": "How long is the warranty?"}]
    assert req.retrieval is True and req.filters is None


def test_max_completion_tokens_wins_over_max_tokens():
    req = ChatCompletionRequest(messages=[{"role": "user", "content": "hi"}], max_tokens=10, max_completion_tokens=20)
    assert req.requested_max_tokens == 20


@pytest.mark.parametrize("body", [
    {"messages": []},
    {"messages": [{"role": "assistant", "content": "only me"}]},
    {"messages": [{"role": "wizard", "content": "hi"}]},
    {"messages": [{"role": "user", "content": "hi"}], "temperature": 5},
    {"messages": [{"role": "user", "content": "hi"}], "n": 0},
])
def test_invalid_requests_are_rejected(body):
    with pytest.raises(ValidationError):
        ChatCompletionRequest.model_validate(body)


def test_responses_parse_with_the_official_client_types():
    from openai.types.chat import ChatCompletion as OpenAICompletion
    from openai.types.chat import ChatCompletionChunk as OpenAIChunk

    done = ChatCompletion(model="larkfield", choices=[Choice(message=ResponseMessage(content="Hi [1]"))],
                          citations=[{"index": 1, "document_id": "warranty.pdf", "text": "x", "score": 0.5}])
    parsed = OpenAICompletion.model_validate(done.model_dump())
    assert parsed.choices[0].message.content == "Hi [1]"
    assert parsed.model_extra["citations"][0]["document_id"] == "warranty.pdf"
    chunk = ChatCompletionChunk(id="c1", model="larkfield", choices=[{"delta": {"content": "Hi"}}])
    assert OpenAIChunk.model_validate(chunk.model_dump()).choices[0].delta.content == "Hi"


@pytest.mark.parametrize("field, value", [
    ("tools", [{"type": "function", "function": {"name": "f"}}]), ("tool_choice", "required"),
    ("tool_choice", {"type": "function", "function": {"name": "f"}}), ("response_format", {"type": "json_schema"}),
    ("logprobs", True), ("top_logprobs", 2), ("functions", [{"name": "f"}]), ("function_call", {"name": "f"}),
])
def test_unsupported_parameters_are_refused_by_name(field, value):
    with pytest.raises(ValidationError) as refused:
        ChatCompletionRequest.model_validate({"messages": [{"role": "user", "content": "hi"}], field: value})
    [error] = refused.value.errors()
    assert error["type"] == "unsupported_parameter" and error["loc"] == (field,)
