"""Verified, attributed answers over HTTP (fake vLLM with a chosen answer, real index of the sample docs)."""

import logging
from contextlib import contextmanager

import pytest

from tests.assistant.conftest import admin, sample_settings
from tests.assistant.test_chat_api import sse_events

QUESTION = "What does the Cargo K1 cost?"
INVENTED = "Hey rider! The Cargo K1 costs $3,249 plus the $1,010 load. Ride bright! — The Larkfield crew"
SUPPORTED = "Hey rider! The Cargo K1 costs $3,899 [3]. Ride bright! — The Larkfield crew"


@contextmanager
def model_says(fake_vllm, text):
    fake_vllm.app.state.answer = text
    try:
        yield
    finally:
        fake_vllm.app.state.answer = None


@pytest.fixture
def policy_client(make_client, indexed_home):
    def make(policy: str):
        profiles = sample_settings(indexed_home).model_dump()["profiles"]
        profiles["larkfield"]["answer_policy"] = policy
        return make_client(profiles=profiles)
    return make


def ask(client, stream=False, **extra):
    return client.post("/v1/chat/completions", headers=admin({"X-Request-ID": "req-verify-1"}),
                       json={"model": "larkfield", "stream": stream,
                             "messages": [{"role": "user", "content": QUESTION}], **extra})


def test_strict_replaces_an_invented_price_with_a_cited_extract(client, fake_vllm, caplog):
    with model_says(fake_vllm, INVENTED), caplog.at_level(logging.INFO, logger="tenor.server"):
        body = ask(client).json()
    text = body["choices"][0]["message"]["content"]
    assert "3,249" not in text and "1,010" not in text and "$3,899" in text
    assert text.startswith("Hey rider!\n") and text.endswith("Ride bright! — The Larkfield crew")
    assert body["answer_outcome"] == "extract" and body["groundedness"] == 0.0
    cited = body["citations"]
    assert cited and all(f"[{c['index']}]" in text for c in cited)  # only the passages the extract quotes
    assert any("$3,899" in c["text"] and c["support"] == 1.0 and c["sentences"] for c in cited)
    assert "request_id=req-verify-1" in caplog.text and "outcome=extract" in caplog.text
    metrics = client.get("/metrics", headers=admin()).text
    assert 'tenor_answers_total{outcome="extract",profile="larkfield"} 1.0' in metrics


def test_supported_answer_ships_with_server_markers_and_only_the_used_citation(client, fake_vllm):
    with model_says(fake_vllm, SUPPORTED):
        body = ask(client).json()
    cited = body["citations"]
    assert body["answer_outcome"] == "shipped" and body["groundedness"] == 1.0
    assert len(cited) == 1 and "$3,899" in cited[0]["text"]
    assert cited[0]["sentences"] == ["The Cargo K1 costs $3,899."] and cited[0]["support"] > 0.5
    n = cited[0]["index"]
    assert body["choices"][0]["message"]["content"] == \
        f"Hey rider! The Cargo K1 costs $3,899 [{n}]. Ride bright! — The Larkfield crew"


def test_strict_stream_sends_only_the_verified_text_which_the_official_client_reassembles(client, fake_vllm):
    import openai

    oa = openai.OpenAI(base_url=str(client.base_url) + "/v1", api_key="admin-key-123456", http_client=client)
    with model_says(fake_vllm, INVENTED):
        chunks = list(oa.chat.completions.create(model="larkfield", stream=True,
                                                 messages=[{"role": "user", "content": QUESTION}]))
        expected = ask(client).json()["choices"][0]["message"]["content"]
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == expected and "3,249" not in streamed
    final = chunks[-1].model_extra
    assert final["answer_outcome"] == "extract" and final["citations"] and chunks[-1].choices == []


def test_annotate_marks_the_unsupported_sentence(policy_client, fake_vllm):
    client = policy_client("annotate")
    with model_says(fake_vllm, "The Cargo K1 costs $3,249. The Cargo K1 costs $3,899."):
        body = ask(client).json()
    text = body["choices"][0]["message"]["content"]
    n = body["citations"][0]["index"]
    assert text == f"The Cargo K1 costs $3,249 [unverified]. The Cargo K1 costs $3,899 [{n}]."
    assert body["answer_outcome"] == "annotated" and body["groundedness"] == 0.5


def test_off_streams_the_model_text_live_and_attributes_it_in_the_last_chunk(policy_client, fake_vllm):
    client = policy_client("off")
    with model_says(fake_vllm, INVENTED):
        events = sse_events(ask(client, stream=True).text)
        body = ask(client).json()
    assert "".join(c["delta"].get("content") or "" for e in events for c in e["choices"]) == INVENTED
    assert len([e for e in events if e["choices"] and e["choices"][0]["delta"].get("content")]) > 3  # word by word
    assert events[-1]["choices"] == [] and events[-1]["groundedness"] == 0.0
    assert body["choices"][0]["message"]["content"] == INVENTED and body["answer_outcome"] == "shipped"


def reader_client(make_client, indexed_home, monkeypatch, tmp_path, reading):
    """A client whose sample profile has ``reading`` (a stand-in reader) for its reader, and lets
    in by words alone, then by the reader."""
    import tenor.reader

    reading.load = lambda: reading  # nothing to load
    monkeypatch.setattr(tenor.reader, "reader_at", lambda path: reading)
    profiles = sample_settings(indexed_home).model_dump()["profiles"]
    # the hybrid passages alone (dense_k 0): the words of the dense ones cover "how many kilos...?"
    profiles["larkfield"]["retrieval"].update(min_similarity=2.0, reader=str(tmp_path), dense_k=0)
    return make_client(profiles=profiles)


def test_a_question_the_reader_let_in_ships_the_quote_it_reads_streamed_or_not(make_client, indexed_home, fake_vllm,
                                                                                monkeypatch, tmp_path, caplog):
    from tests.assistant.test_grounding import Reading

    reading = Reading(0.9)
    client = reader_client(make_client, indexed_home, monkeypatch, tmp_path, reading)
    haul = [{"role": "user", "content": "How many kilos can the Cargo K1 haul?"}]  # the docs: "carries up to 180 kg"
    asked = len(fake_vllm.requests)
    caplog.set_level(logging.INFO, logger="tenor.server")
    for stream in (False, True):
        with model_says(fake_vllm, "Hey rider! It hauls 500 kg. Ride bright! — The Larkfield crew"):  # invented
            response = client.post("/v1/chat/completions", headers=admin(),
                                   json={"model": "larkfield", "stream": stream, "messages": haul})
        text = response.text if stream else response.json()["choices"][0]["message"]["content"]
        assert "180 kg" in text and "500 kg" not in text, (stream, text)  # the quote the reader says answers it
        body = response.json() if not stream else sse_events(response.text)[-1]  # the attribution chunk
        assert body["answer_outcome"] == "extract" and [c["document_id"] for c in body["citations"]], body
    assert len(fake_vllm.requests) == asked  # the quote the reader picked answers: the model is not asked
    logged = [r.getMessage() for r in caplog.records if r.name == "tenor.server"]
    assert any(m.startswith("answer quoted:") for m in logged) and not any("replaced" in m for m in logged), logged
    reading.probability = 0.5  # the reader does not let it in: the no-answer text, without the model
    body = client.post("/v1/chat/completions", headers=admin(), json={"model": "larkfield", "messages": haul}).json()
    assert body["answer_outcome"] == "no_answer" and "180 kg" not in body["choices"][0]["message"]["content"]


def test_the_reader_lets_a_question_in_but_says_no_quote_answers_it_then_the_model_answers(make_client, indexed_home,
                                                                                             fake_vllm, monkeypatch,
                                                                                             tmp_path):
    from tests.assistant.test_grounding import Reading

    class EvidenceOnly(Reading):  # "Yes" to the whole evidence, "No" to every quote of it
        def __call__(self, question, text, earlier=(), on_read=None):
            super().__call__(question, text, earlier, on_read)
            return 0.9 if len(self.asked) == 1 else 0.5

    reading = EvidenceOnly(0.9)
    client = reader_client(make_client, indexed_home, monkeypatch, tmp_path, reading)
    asked = len(fake_vllm.requests)
    with model_says(fake_vllm, "Hey rider! The Cargo K1 carries up to 180 kg. Ride bright! — The Larkfield crew"):
        haul = [{"role": "user", "content": "How many kilos can the Cargo K1 haul?"}]
        response = client.post("/v1/chat/completions", headers=admin(), json={"model": "larkfield", "messages": haul})
    body = response.json()
    assert len(fake_vllm.requests) == asked + 1  # no quote the reader accepts: the model is asked
    assert len(reading.asked) > 2  # the gate's read, then quotes
    assert body["answer_outcome"] == "shipped" and "180 kg" in body["choices"][0]["message"]["content"], body
    read = sum(len(question) + len(text) for question, text, _ in reading.asked)  # the stand-in's tokens
    assert body["usage"]["prompt_tokens"] == 100 + read  # the model's prompt (the fake's figure) and the reads
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    for policy in ("strict", "off"):  # verified, then streamed; relayed live
        client.app.state.settings.profile("larkfield").answer_policy = policy
        reading.asked = []
        with model_says(fake_vllm, "Hey rider! The Cargo K1 carries up to 180 kg. Ride bright! — The Larkfield crew"):
            events = sse_events(client.post("/v1/chat/completions", headers=admin(), json={
                "model": "larkfield", "messages": haul, "stream": True,
                "stream_options": {"include_usage": True}}).text)
        read = sum(len(question) + len(text) for question, text, _ in reading.asked)
        assert read and events[-1]["usage"]["prompt_tokens"] == 100 + read, (policy, events[-1])


def test_a_question_words_let_in_gets_the_quote_the_reader_confirms_when_the_models_answer_fails(
        make_client, indexed_home, fake_vllm, monkeypatch, tmp_path):
    from tests.assistant.test_grounding import Reading

    reading = Reading(0.9)
    client = reader_client(make_client, indexed_home, monkeypatch, tmp_path, reading)
    service = [{"role": "user", "content": "What does a service cost and can I book it online on a Sunday?"}]
    for says, outcome, stream in ((0.5, "no_answer", False), (0.9, "extract", False), (0.9, "extract", True)):
        reading.probability, reading.asked = says, []
        with model_says(fake_vllm, "Hey rider! A service is $10 on Sundays. Ride bright! — The Larkfield crew"):
            response = client.post("/v1/chat/completions", headers=admin(),  # two choices, one read
                                   json={"model": "larkfield", "messages": service, "n": 1 if stream else 2,
                                         "stream": stream})
        events = sse_events(response.text) if stream else []
        body = events[-1] if stream else response.json()
        texts = (["".join(c["delta"].get("content") or "" for e in events for c in e["choices"])] if stream
                 else [c["message"]["content"] for c in body["choices"]])
        assert body["answer_outcome"] == outcome and not any("$10" in t for t in texts), body
        assert len(reading.asked) == 1  # the words let it in: no read at the gate, one of the words' quote
        assert says < 0.8 or all("Price: $179" in t for t in texts), texts  # the quote read ships
    assert "Plan: Full Service; Price: $179" in reading.asked[0][1]


def test_a_follow_up_s_extract_quotes_the_row_its_conversation_names(client, fake_vllm, monkeypatch):
    """"And how much does it cost?" names no row: the retrieval query, with the earlier turn, names the
    Fold F1, so no other row of the price table is quoted for its name (the embedder's real closeness)."""
    import assistant.chat_service

    asked: list[list[str]] = []

    def recorded(embedder, queries):
        asked.append(list(queries))
        return closeness(embedder, queries)
    closeness = assistant.chat_service.closeness
    monkeypatch.setattr(assistant.chat_service, "closeness", recorded)
    conversation = [{"role": "user", "content": "Tell me about the Fold F1"},
                    {"role": "assistant", "content": "Hey rider! The Fold F1 folds in 15 seconds."},
                    {"role": "user", "content": "And how much does it cost?"}]
    with model_says(fake_vllm, "Hey rider! It costs $999. Ride bright! — The Larkfield crew"):  # invented
        body = client.post("/v1/chat/completions", headers=admin(),
                           json={"model": "larkfield", "messages": conversation}).json()
    text = body["choices"][0]["message"]["content"]
    assert body["answer_outcome"] == "extract" and "Model: Fold F1" in text and "$1,799" in text, text
    assert not any(price in text for price in ("$2,499", "$3,899", "$3,299", "$999")), text
    assert asked and asked[-1][0] == "And how much does it cost?" and "Fold F1" in asked[-1][1], asked
