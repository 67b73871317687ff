"""The prompt fits the model's context window as vLLM counts it: SmolLM2's real tokenizer and
chat template, a fake vLLM that refuses what does not fit, long and non-English messages,
hundreds of turns; trimming costs one tokenization per turn at most; request caps."""

from __future__ import annotations

import logging
import time

import pytest

from tenor.prompt import APPROX, TokenMeter, build_prompt
from tenor.tokens import token_meter
from tests.assistant.conftest import BASE_ONLY_KEY, CHAT_KEY, sample_settings
from tests.assistant.fake_vllm import BASE, MAX_MODEL_LEN, FakeVllm

WIDGET_KEY = "widget-key-123456"
SHOP = "https://shop.example"


@pytest.fixture(scope="module")
def counting_vllm(prepared_base_model):
    """A fake vLLM that counts prompts with SmolLM2's tokenizer and chat template (via transformers)."""
    fake = FakeVllm(served=(BASE, "larkfield-voice", "smol-voice"), tokenizer_dir=prepared_base_model).start()
    yield fake
    fake.stop()


@pytest.fixture
def smol_client(make_client, counting_vllm, prepared_base_model, indexed_home):
    """The app on the sample config with SmolLM2 as every profile's base model, or as ``smol_only``'s."""
    def make(smol_only: bool = False, answer_tokens: int | None = None, **server):
        profiles = sample_settings(indexed_home).model_dump()["profiles"]
        for name, profile in profiles.items():
            profile["base_model"] = str(indexed_home) if smol_only else str(prepared_base_model)
            profile["decoding"]["max_tokens"] = answer_tokens
        if smol_only:  # the default profile's model has no tokenizer; only this one is SmolLM2
            profiles["smol"] = {**profiles["larkfield"], "adapter": "smol-voice",
                                "base_model": str(prepared_base_model)}
        keys = sample_settings(indexed_home).model_dump()["api_keys"]
        keys.append({"key": WIDGET_KEY, "scope": "widget", "origins": [SHOP], "name": "widget"})
        server = {**sample_settings(indexed_home).server.model_dump(), **server}
        return make_client(engine_url=counting_vllm.url, profiles=profiles, api_keys=keys, server=server)
    return make


def chat(client, messages, *, model="larkfield", key=CHAT_KEY, **extra):
    return client.post("/v1/chat/completions", headers={"Authorization": f"Bearer {key}", "Origin": SHOP},
                       json={"model": model, "messages": messages, **extra})


def assert_fits(fake, answer, *, full: bool = True, answer_tokens: int = 512):
    assert answer.status_code == 200, answer.text
    sent = fake.prompt_tokens[-1]
    assert sent + answer_tokens <= MAX_MODEL_LEN  # what vLLM checks (512: the default max_tokens)
    if full:  # one message cut to the budget (64 tokens of margin), not far below it
        assert sent >= MAX_MODEL_LEN - answer_tokens - 64 - 16, sent
    return fake.requests[-1]["messages"]


@pytest.mark.parametrize("text", ["1234567890" * 2000, "电池在冬天应该怎样保存？请把它放在室内。" * 1500],
                         ids=["digits", "chinese"])
def test_a_long_message_is_cut_by_real_tokens_to_fit_the_window(smol_client, counting_vllm, text):
    messages = assert_fits(counting_vllm, chat(smol_client(), [{"role": "user", "content": text}],
                                               retrieval=False))
    sent = messages[-1]["content"]
    assert text.endswith(sent) and len(sent) > 500  # the message's end, as much of it as fits


def test_the_profiles_own_answer_length_is_reserved(smol_client, counting_vllm):
    answer = chat(smol_client(answer_tokens=1000), [{"role": "user", "content": "1234567890" * 2000}],
                  retrieval=False)
    assert counting_vllm.requests[-1]["max_tokens"] == 1000
    assert_fits(counting_vllm, answer, answer_tokens=1000)


def test_a_long_grounded_question_keeps_its_passages_and_fits(smol_client, counting_vllm):
    # enough key terms that the run of digits (one rare term) leaves it covered
    text = "How long are the frame, the motor and the battery covered by the warranty? " + "1234567890" * 2000
    answer = chat(smol_client(), [{"role": "user", "content": text}])
    messages = assert_fits(counting_vllm, answer)
    assert answer.json()["citations"] and "<passages>" in messages[0]["content"]


def test_hundreds_of_short_turns_fit_the_window(smol_client, counting_vllm):
    """199 short turns: 4 template tokens a turn (the old estimate) undercounts SmolLM2's template."""
    turns = []
    for i in range(100):
        turns += [{"role": "user", "content": f"ok {i}"}, {"role": "assistant", "content": "Sure, happy to help!"}]
    turns[-1] = {"role": "user", "content": "How long is the warranty on the frame?"}
    answer = chat(smol_client(), turns)
    messages = assert_fits(counting_vllm, answer, full=False)
    assert messages[-1] == turns[-1] and len(messages) < len(turns)


def test_each_profile_counts_with_its_own_base_model(smol_client, counting_vllm, caplog):
    """The default profile's model has no tokenizer (estimate, with a warning); 'smol' still
    counts with SmolLM2, so its long message of digits fits."""
    with caplog.at_level(logging.WARNING, logger="tenor.server"):
        client = smol_client(smol_only=True)
    assert_fits(counting_vllm, chat(client, [{"role": "user", "content": "1234567890" * 2000}],
                                    model="smol", retrieval=False))
    assert any("4-characters-a-token estimate" in r.getMessage() for r in caplog.records)


def test_the_meter_counts_what_the_chat_template_makes(prepared_base_model):
    from transformers import AutoTokenizer

    meter = token_meter(prepared_base_model)
    tokenizer = AutoTokenizer.from_pretrained(str(prepared_base_model))
    messages = [{"role": "system", "content": "You are Larkfield's assistant."}]
    for i in range(30):
        messages += [{"role": "user", "content": f"Question {i}: 价格是多少？ 12345"},
                     {"role": "assistant", "content": f"Answer {i}: it costs $3,899 [1]."}]
    real = len(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                             return_dict=True)["input_ids"])
    counted = meter.per_prompt + sum(meter.count(m["content"]) + meter.per_message for m in messages)
    assert real <= counted <= real + len(messages)  # never under, at most a token a message over
    assert meter.per_message > 4  # SmolLM2's ChatML wraps a message in more than the old 4 tokens


def test_a_broken_tokenizer_falls_back_to_the_estimate_with_a_warning(tmp_path, caplog):
    (tmp_path / "tokenizer.json").write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="tenor.server"):
        assert token_meter(tmp_path) is APPROX
    assert str(tmp_path / "tokenizer.json") in caplog.text


def counting(meter: TokenMeter) -> tuple[TokenMeter, list[str]]:
    seen: list[str] = []

    def count(text: str) -> int:
        seen.append(text)
        return meter.count(text)

    return TokenMeter(count=count, tail=meter.tail, per_message=meter.per_message, per_prompt=meter.per_prompt), seen


@pytest.mark.parametrize("budget", [1472, 10**9], ids=["trimmed", "all-fit"])
def test_trimming_tokenizes_each_turn_at_most_once(budget):
    turns = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i} about the battery"}
             for i in range(2001)]
    meter, seen = counting(APPROX)
    prompt = build_prompt("You are helpful.", turns, grounded=False, max_prompt_tokens=budget, tokens=meter)
    turn_texts = [t for t in seen if t.startswith("turn ")]
    assert len(turn_texts) == len(set(turn_texts))  # none twice
    assert len(turn_texts) <= len(prompt.messages)  # the kept turns, and the first that did not fit
    assert (prompt.trimmed_turns > 0) == (budget == 1472)


def test_thousands_of_turns_are_trimmed_in_well_under_a_second(smol_client, counting_vllm):
    """A 2,000-turn request took ~40 s of CPU when every dropped turn re-tokenized the rest."""
    client = smol_client()
    turns = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"Question {i}: how far does "
              f"the Commuter C2 go on one charge in winter?"} for i in range(2001)]
    assert_fits(counting_vllm, chat(client, turns, retrieval=False, max_tokens=1), full=False, answer_tokens=1)
    grounding, profile = client.app.state.grounding, client.app.state.settings.profile("larkfield")
    started = time.perf_counter()
    grounding.ground(profile, turns, retrieval=False, max_tokens=1)
    assert time.perf_counter() - started < 2  # ~20 ms on an idle 2-core machine (bench/trim_bench.py)


@pytest.mark.parametrize("key,messages,setting", [
    (CHAT_KEY, [{"role": "user", "content": "hi"}] * 2049, "server.max_request_messages"),
    (BASE_ONLY_KEY, [{"role": "user", "content": "x" * 1_000_001}], "server.max_request_content_bytes"),
    (WIDGET_KEY, [{"role": "user", "content": "hi"}] * 101, "server.widget_max_request_messages"),
    (WIDGET_KEY, [{"role": "user", "content": "é" * 32_001}], "server.widget_max_request_content_bytes"),
], ids=["messages", "bytes", "widget-messages", "widget-bytes"])
def test_a_request_over_its_keys_caps_is_a_400_naming_the_limit(smol_client, counting_vllm, key, messages, setting):
    before = len(counting_vllm.requests)
    model = "larkfield-base" if key == BASE_ONLY_KEY else "larkfield"
    answer = chat(smol_client(), messages, key=key, model=model)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert setting in error["message"] and error["param"] == "messages" and error["type"] == "invalid_request_error"
    assert len(counting_vllm.requests) == before


def test_a_widget_request_within_its_caps_is_answered(smol_client, counting_vllm):
    turns = [{"role": "user", "content": "hi"}] * 100
    assert chat(smol_client(), turns, key=WIDGET_KEY).status_code == 200
