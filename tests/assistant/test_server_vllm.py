"""End to end: `tenor serve` with a real vLLM and a real LoRA adapter, driven by the official openai client."""

from __future__ import annotations

import httpx
import openai
import pytest

pytestmark = [pytest.mark.vllm, pytest.mark.integration]

WARRANTY_Q = "How long is the warranty on the frame?"
GREEDY = {"temperature": 0, "seed": 0}


def ask(server, question, model="larkfield", **kwargs):
    return server.openai().chat.completions.create(
        model=model, messages=[{"role": "user", "content": question}], **{"max_tokens": 40, **GREEDY, **kwargs})


def citations(result) -> list[dict]:
    return (result.model_extra or {}).get("citations") or []


def test_chat_with_the_openai_client(tenor_server):
    result = ask(tenor_server, WARRANTY_Q)
    assert result.model == "larkfield" and result.object == "chat.completion"
    assert result.choices[0].message.content.strip()
    assert result.choices[0].finish_reason in ("stop", "length")
    assert result.usage.prompt_tokens > 100 and 0 < result.usage.completion_tokens <= 40


def test_answer_cites_the_right_document(tenor_server):
    for question, source in [(WARRANTY_Q, "warranty.pdf"),
                             ("How much does the folding e-bike cost?", "products.md"),
                             ("What are the opening hours of the store on Saturday?", "store-and-contact.md")]:
        top = citations(ask(tenor_server, question, max_tokens=5))[0]
        assert top["document_id"] == source, (question, top)
        assert top["index"] == 1 and top["text"] and top["score"] > 0.3


def test_streaming_with_the_openai_client(tenor_server):
    stream = tenor_server.openai().chat.completions.create(
        model="larkfield", messages=[{"role": "user", "content": WARRANTY_Q}], stream=True,
        stream_options={"include_usage": True}, max_tokens=30, **GREEDY)
    chunks = list(stream)
    assert chunks[0].model_extra["citations"][0]["document_id"] == "warranty.pdf"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) > 3  # really streamed
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    assert text == ask(tenor_server, WARRANTY_Q, max_tokens=30).choices[0].message.content


def test_models_lists_the_profiles(tenor_server):
    ids = {m.id for m in tenor_server.openai().models.list()}
    assert ids == {"larkfield", "larkfield-base", "larkfield-strict", "larkfield-loop"}  # the fixture adds two


def test_errors_reach_the_client_as_openai_errors(tenor_server):
    with pytest.raises(openai.AuthenticationError):
        tenor_server.openai(key="wrong-key-000000").models.list()
    with pytest.raises(openai.PermissionDeniedError):
        tenor_server.openai(key=tenor_server.chat_key).chat.completions.create(
            model="larkfield-base", messages=[{"role": "user", "content": WARRANTY_Q}])
    with pytest.raises(openai.NotFoundError) as missing:
        ask(tenor_server, WARRANTY_Q, model="gpt-4o")
    assert missing.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError):
        ask(tenor_server, WARRANTY_Q, temperature=7)
    with pytest.raises(openai.BadRequestError) as too_long:
        ask(tenor_server, WARRANTY_Q, max_tokens=50_000)  # vLLM's own 400, passed through
    assert "context" in str(too_long.value).lower() or "max" in str(too_long.value).lower()


def test_off_topic_question_gets_the_no_answer_text(tenor_server):
    result = ask(tenor_server, "What is the boiling point of tungsten on Mars?")
    assert result.choices[0].message.content.startswith("Hey rider! Our docs don't cover that")
    assert citations(result) == []


def test_editing_a_document_and_reindexing_changes_the_next_answer(tenor_server):
    question = "What is the street address of your flagship store?"
    before = ask(tenor_server, question, model="larkfield-base", max_tokens=60)
    assert any("412 Alder Street" in c["text"] for c in citations(before))

    doc = tenor_server.docs / "store-and-contact.md"
    original = doc.read_text()
    doc.write_text(original.replace("412 Alder Street", "77 Juniper Lane"))
    try:
        r = httpx.post(f"{tenor_server.url}/v1/documents/reindex", json={"path": str(tenor_server.docs)},
                       headers={"Authorization": f"Bearer {tenor_server.admin_key}"}, timeout=120)
        assert r.status_code == 200 and r.json()["updated"] == 1, r.text
        after = ask(tenor_server, question, model="larkfield-base", max_tokens=60)
        texts = " ".join(c["text"] for c in citations(after))
        assert "77 Juniper Lane" in texts and "412 Alder Street" not in texts
        assert after.choices[0].message.content != before.choices[0].message.content
    finally:
        doc.write_text(original)
        httpx.post(f"{tenor_server.url}/v1/documents/reindex", json={"path": str(tenor_server.docs)},
                   headers={"Authorization": f"Bearer {tenor_server.admin_key}"}, timeout=120)


def test_adapter_hot_swap_without_restart(tenor_server):
    question = "Do you sell gift cards?"
    base = ask(tenor_server, question, model="larkfield-base", max_tokens=25).choices[0].message.content
    v1 = ask(tenor_server, question, max_tokens=25).choices[0].message.content
    assert v1 != base  # the adapter is really applied

    done = tenor_server.tenor("adapters", "load", "larkfield-voice", str(tenor_server.adapters["v2"]),
                              "--url", tenor_server.url, "--key", tenor_server.admin_key)
    assert done.returncode == 0, done.stderr
    try:
        v2 = ask(tenor_server, question, max_tokens=25).choices[0].message.content
        assert v2 != v1
    finally:
        r = httpx.post(f"{tenor_server.url}/v1/admin/adapters",
                       json={"name": "larkfield-voice", "path": str(tenor_server.adapters["v1"])},
                       headers={"Authorization": f"Bearer {tenor_server.admin_key}"}, timeout=120)
        assert r.status_code == 200 and r.json()["profiles"] == ["larkfield"]
    assert ask(tenor_server, question, max_tokens=25).choices[0].message.content == v1


def test_tenor_chat_cli_prints_the_answer_and_sources(tenor_server):
    done = tenor_server.tenor("chat", WARRANTY_Q, "--url", tenor_server.url, "--key", tenor_server.admin_key,
                              "--max-tokens", "20")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    assert "Sources" in done.stderr and "[1] warranty.pdf" in done.stderr


def test_ready_and_metrics(tenor_server):
    ready = httpx.get(f"{tenor_server.url}/ready", timeout=10)
    assert ready.status_code == 200 and ready.json()["checks"] == {"vllm": "ok", "index": "ok"}
    ask(tenor_server, WARRANTY_Q, max_tokens=4)  # so the counters exist even when this test runs alone
    metrics = httpx.get(f"{tenor_server.url}/metrics", timeout=10,
                        headers={"Authorization": f"Bearer {tenor_server.admin_key}"}).text
    assert 'tenor_tokens_total{kind="completion",profile="larkfield"}' in metrics
    assert "tenor_retrieval_seconds_bucket" in metrics


def test_long_and_many_turn_conversations_fit_the_real_context_window(tenor_server):
    """Counted with SmolLM2's own tokenizer and chat template and cut by real tokens, a message
    in Chinese and 200 short turns both fit vLLM's 2,048-token window. (Each costs a minute of
    prefill on a 2-core CPU; a message of digits is cut the same way, checked against the real
    tokenizer in test_prompt_budget.py.)"""
    many = []
    for i in range(100):
        many += [{"role": "user", "content": f"ok {i}"}, {"role": "assistant", "content": "Sure, happy to help!"}]
    many[-1] = {"role": "user", "content": WARRANTY_Q}
    for messages in ([{"role": "user", "content": "电池在冬天应该怎样保存？请把它放在室内。" * 1500}], many):
        result = tenor_server.openai().chat.completions.create(  # the base profile: no LoRA prefill
            model="larkfield-base", messages=messages, max_tokens=1, extra_body={"retrieval": False}, **GREEDY)
        assert 1400 < result.usage.prompt_tokens <= 2048 - 1
