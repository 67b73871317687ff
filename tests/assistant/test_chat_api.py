"""The chat endpoint over HTTP against a fake vLLM: SSE framing, citations, usage, switches."""

import json

from tests.assistant.conftest import admin
from tests.assistant.test_errors_auth import assert_error

# The fake vLLM echoes the question; this one asks for no duration, price or time, so strict ships the echo.
QUESTION = "Is the frame covered by the warranty?"


def chat(client, **body):
    body.setdefault("messages", [{"role": "user", "content": QUESTION}])
    body.setdefault("model", "larkfield")
    return client.post("/v1/chat/completions", headers=admin(), json=body)


def sse_events(text: str) -> list:
    assert text.endswith("\n\n")
    frames = text.split("\n\n")[:-1]
    assert all(f.startswith("data: ") and "\n" not in f for f in frames), frames
    assert frames[-1] == "data: [DONE]"
    return [json.loads(f[len("data: "):]) for f in frames[:-1]]


def test_answer_carries_citations_and_usage(client, fake_vllm):
    r = chat(client)
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "chat.completion" and body["model"] == "larkfield"
    assert body["choices"][0]["message"]["content"].startswith("You asked:")
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"] > 0
    assert body["citations"][0]["document_id"] == "warranty.pdf"
    assert set(body["citations"][0]) >= {"index", "document_id", "section", "page", "text", "score"}
    assert "source" not in body["citations"][0]  # no server file paths for public clients
    sent = fake_vllm.requests[-1]
    assert sent["model"] == "larkfield-voice"  # the profile's adapter, by LoRA module name
    assert "<passages>" in sent["messages"][0]["content"]
    assert "\n[1] warranty.pdf" in sent["messages"][0]["content"]  # labelled by id, not by file path


def test_profile_without_adapter_uses_the_base_model(client, fake_vllm):
    assert chat(client, model="larkfield-base").status_code == 200
    assert fake_vllm.requests[-1]["model"] == "smollm2-135m-instruct"


def test_sampling_parameters_reach_vllm(client, fake_vllm):
    chat(client, temperature=0.2, top_p=0.9, max_completion_tokens=33, stop=["\n"], seed=7, user="u1")
    sent = fake_vllm.requests[-1]
    assert (sent["temperature"], sent["top_p"], sent["max_tokens"], sent["stop"], sent["seed"], sent["user"]) == \
        (0.2, 0.9, 33, ["\n", "Ride bright! — The Larkfield crew"], 7, "u1")


def test_profile_decoding_defaults_reach_vllm_and_requests_override_them(client, fake_vllm):
    chat(client)
    sent = fake_vllm.requests[-1]
    assert (sent["temperature"], sent["frequency_penalty"]) == (0.0, 0.5)
    # decoding stops right after the profile's sign-off, which stays in the answer
    assert sent["stop"] == ["Ride bright! — The Larkfield crew"] and sent["include_stop_str_in_output"] is True
    chat(client, temperature=0.7, frequency_penalty=0.0, stop="\n\n")
    sent = fake_vllm.requests[-1]
    assert (sent["temperature"], sent["frequency_penalty"]) == (0.7, 0.0)
    assert sent["stop"] == ["\n\n", "Ride bright! — The Larkfield crew"]


def test_decoding_defaults_can_be_switched_off_per_profile(make_client, fake_vllm):
    client = make_client()
    profile = client.app.state.settings.profiles["larkfield"]
    profile.decoding.frequency_penalty = None
    profile.decoding.stop_at_sign_off = False
    chat(client)
    sent = fake_vllm.requests[-1]
    assert "frequency_penalty" not in sent and "stop" not in sent and "include_stop_str_in_output" not in sent


def test_stream_has_openai_framing_attribution_then_usage_last(client):
    r = chat(client, stream=True, stream_options={"include_usage": True})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    assert len({e["id"] for e in events}) == 1
    assert all(e["object"] == "chat.completion.chunk" and e["model"] == "larkfield" for e in events)
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    attribution = events[-2]
    assert attribution["choices"] == [] and attribution["citations"][0]["document_id"] == "warranty.pdf"
    assert attribution["answer_outcome"] == "shipped" and attribution["groundedness"] == 1.0
    assert all("citations" not in e for e in events[:-2])
    text = "".join(c["delta"].get("content") or "" for e in events for c in e["choices"])
    assert text.startswith("You asked: Is the frame")
    assert events[-3]["choices"][0]["finish_reason"] == "stop"
    assert events[-1]["choices"] == [] and events[-1]["usage"]["completion_tokens"] > 0


def test_stream_without_include_usage_has_no_usage_chunk(client):
    events = sse_events(chat(client, stream=True).text)
    assert all(e["choices"] for e in events[:-1]) and all(not e.get("usage") for e in events)
    assert events[-1]["choices"] == [] and "citations" in events[-1]


def test_stream_parses_with_the_official_client(client):
    import openai

    oa = openai.OpenAI(base_url=str(client.base_url) + "/v1", api_key="admin-key-123456", http_client=client)
    chunks = list(oa.chat.completions.create(model="larkfield", stream=True, stream_options={"include_usage": True},
                                             messages=[{"role": "user", "content": QUESTION}]))
    assert chunks[-2].model_extra["citations"][0]["document_id"] == "warranty.pdf"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).startswith("You asked")
    assert chunks[-1].usage.completion_tokens > 0


def test_off_topic_question_gets_no_answer_without_calling_vllm(client, fake_vllm):
    before = len(fake_vllm.requests)
    r = chat(client, messages=[{"role": "user", "content": "What is the capital of Mongolia?"}])
    assert r.json()["choices"][0]["message"]["content"].startswith("Hey rider! Our docs don't cover that")
    assert r.json()["citations"] == []
    events = sse_events(chat(client, stream=True, stream_options={"include_usage": True},
                             messages=[{"role": "user", "content": "What is the capital of Mongolia?"}]).text)
    assert "".join(c["delta"].get("content") or "" for e in events for c in e["choices"]).startswith("Hey rider!")
    assert events[-1]["usage"]["completion_tokens"] > 0
    assert len(fake_vllm.requests) == before


def test_retrieval_can_be_switched_off_per_request(client, fake_vllm):
    r = chat(client, retrieval=False, messages=[{"role": "user", "content": "What is the capital of Mongolia?"}])
    assert r.status_code == 200 and r.json()["citations"] == []
    assert "<passages>" not in fake_vllm.requests[-1]["messages"][0]["content"]


def test_metadata_filter_limits_the_citations(client):
    r = chat(client, filters={"document_id": "warranty.pdf"},
             messages=[{"role": "user", "content": "battery warranty and care"}])
    assert {c["document_id"] for c in r.json()["citations"]} == {"warranty.pdf"}


def test_invalid_filter_is_400(client):
    assert_error(chat(client, filters={"$nope": 1}), 400)


def test_follow_up_question_uses_the_conversation(client, fake_vllm):
    r = chat(client, messages=[{"role": "user", "content": "How long is the warranty on the frame?"},
                               {"role": "assistant", "content": "For life [1]."},
                               {"role": "user", "content": "and the battery?"}])
    assert r.json()["citations"][0]["document_id"] == "warranty.pdf"


def test_long_conversation_never_errors(client, fake_vllm):
    turns = []
    for i in range(300):
        turns += [{"role": "user", "content": f"warranty question {i} " + "x" * 300},
                  {"role": "assistant", "content": "y" * 300}]
    turns.append({"role": "user", "content": QUESTION})
    r = chat(client, messages=turns)
    assert r.status_code == 200
    assert len(fake_vllm.requests[-1]["messages"]) < len(turns)


def test_models_lists_the_profiles(client):
    body = client.get("/v1/models", headers=admin()).json()
    assert body["object"] == "list"
    assert {m["id"] for m in body["data"]} == {"larkfield", "larkfield-base"}
    assert client.get("/v1/models/larkfield", headers=admin()).json()["adapter"] == "larkfield-voice"
    assert_error(client.get("/v1/models/nope", headers=admin()), 404)


def test_retrieve_returns_the_passages_without_generating(client, fake_vllm):
    before = len(fake_vllm.requests)
    r = client.post("/v1/retrieve", headers=admin(), json={"model": "larkfield", "query": QUESTION, "k": 2})
    body = r.json()
    assert r.status_code == 200 and body["data"][0]["document_id"] == "warranty.pdf" and len(body["data"]) <= 2
    assert body["retrieval_ms"] > 0 and len(fake_vllm.requests) == before
    assert body["mode"] == "hybrid"
    top = body["data"][0]
    assert top["score"] == top["dense_score"] > 0 and top["lexical_score"] > 0 and top["fused_score"] > 0
    dense = client.post("/v1/retrieve", headers=admin(),
                        json={"model": "larkfield", "query": QUESTION, "k": 2, "mode": "dense"}).json()
    assert dense["mode"] == "dense" and dense["data"][0]["fused_score"] is None
    assert_error(client.post("/v1/retrieve", headers=admin(), json={"model": "larkfield"}), 400)
    assert_error(client.post("/v1/retrieve", headers=admin(), json={"query": QUESTION, "mode": "bm25"}), 400)


def test_health_ready_and_metrics(client):
    assert client.get("/health").json()["status"] == "ok"
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.json()["checks"] == {"vllm": "ok", "index": "ok"}
    chat(client)
    chat(client, stream=True, stream_options={"include_usage": True})
    text = client.get("/metrics", headers=admin()).text
    assert 'tenor_requests_total{method="POST",route="/v1/chat/completions",status="200"} 2.0' in text
    assert 'tenor_tokens_total{kind="completion",profile="larkfield"}' in text
    assert 'tenor_retrieval_seconds_count{profile="larkfield"} 2.0' in text
    assert 'tenor_time_to_first_token_seconds_count{profile="larkfield"} 1.0' in text
    assert "tenor_request_seconds_bucket" in text


UNSUPPORTED_REQUESTS = [
    ("tools", {"tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]}),
    ("tool_choice", {"tool_choice": "required"}),
    ("functions", {"functions": [{"name": "get_weather", "parameters": {}}]}),
    ("response_format", {"response_format": {"type": "json_object"}}),
    ("logprobs", {"logprobs": True}),
    ("top_logprobs", {"top_logprobs": 3}),
]


def test_unsupported_openai_parameters_are_a_400_naming_them_not_ignored(client, fake_vllm):
    before = len(fake_vllm.requests)
    for param, fields in UNSUPPORTED_REQUESTS:
        for stream in (False, True):
            r = chat(client, stream=stream, **fields)
            assert_error(r, 400, "invalid_request_error")
            error = r.json()["error"]
            assert (error["param"], error["code"]) == (param, "unsupported_parameter"), error
            assert error["message"].startswith(f"Unsupported parameter: '{param}'")
    assert len(fake_vllm.requests) == before  # nothing was generated for them


def test_values_that_ask_for_nothing_are_accepted(client):
    # What clients send by default or to be explicit (e.g. older LangChain: logprobs false).
    harmless = {"tools": [], "tool_choice": "none", "response_format": {"type": "text"}, "logprobs": False,
                "top_logprobs": 0, "functions": None, "function_call": "auto", "parallel_tool_calls": False}
    r = chat(client, **harmless)
    assert r.status_code == 200, r.text


def test_the_official_client_gets_the_unsupported_parameter_as_a_bad_request(client):
    import openai

    oa = openai.OpenAI(base_url=str(client.base_url) + "/v1", api_key="admin-key-123456", http_client=client,
                       max_retries=0)
    ask = {"model": "larkfield", "messages": [{"role": "user", "content": QUESTION}]}
    assert oa.chat.completions.create(**ask, logprobs=False).choices[0].message.content.startswith("You asked")
    try:
        oa.chat.completions.create(**ask, response_format={"type": "json_object"})
    except openai.BadRequestError as exc:
        assert exc.param == "response_format" and exc.code == "unsupported_parameter"
    else:
        raise AssertionError("response_format json_object was accepted")


def test_langchain_chat_openai_works_with_its_defaults_and_is_told_about_tools(client):
    import openai
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(model="larkfield", base_url=str(client.base_url) + "/v1", api_key="admin-key-123456",
                     http_client=client, max_retries=0)
    assert llm.invoke(QUESTION).content.startswith("You asked")
    assert "".join(chunk.content for chunk in llm.stream(QUESTION)).startswith("You asked")

    def get_weather(city: str) -> str:
        """The weather in a city."""
        return "sunny"

    try:
        llm.bind_tools([get_weather]).invoke(QUESTION)
    except openai.BadRequestError as exc:
        assert exc.param == "tools"
    else:
        raise AssertionError("a tool call request was answered as if it had no tools")
