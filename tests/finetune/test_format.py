"""Formatting with SmolLM2's chat template: the served prompt, loss on assistant tokens only."""

import json

import pytest

from finetune.data import DataError, Example, parse_line
from finetune.format import IGNORE, TrainExample, format_example, format_examples, plain_examples
from tenor.prompt import build_prompt

SYSTEM = "You are the Larkfield support assistant."


def assistant_spans(text: str, answers: list[str]) -> list[tuple[int, int]]:
    """Character spans of each answer plus its `<|im_end|>`, found independently of finetune.format."""
    spans, cursor = [], 0
    for answer in answers:
        start = text.index("<|im_start|>assistant\n" + answer, cursor) + len("<|im_start|>assistant\n")
        end = start + len(answer) + len("<|im_end|>")
        assert text[start + len(answer):end] == "<|im_end|>"
        spans.append((start, end))
        cursor = end
    return spans


def test_labels_are_the_assistant_tokens_and_nothing_else_token_by_token(tokenizer):
    line = json.dumps({"messages": [
        {"role": "user", "content": "Do you sell helmets?"},
        {"role": "assistant", "content": "Hey rider! Yes, three styles.\n\nRide bright!"},
        {"role": "user", "content": "And gloves?"},
        {"role": "assistant", "content": "An older answer we do not want to learn.", "weight": 0},
        {"role": "user", "content": "Price?"},
        {"role": "assistant", "content": "Hey rider! From $25.\n\nRide bright!"},
    ]})
    example = plain_examples([Example(1, parse_line(line))], SYSTEM)[0]
    features = format_example(tokenizer, example)

    full = tokenizer.apply_chat_template(
        [{"role": "system", "content": SYSTEM}] + [
            {"role": m["role"], "content": m["content"]} for m in json.loads(line)["messages"]],
        tokenize=False)
    learned = assistant_spans(full, ["Hey rider! Yes, three styles.\n\nRide bright!",
                                     "Hey rider! From $25.\n\nRide bright!"])
    encoded = tokenizer(full.rstrip("\n"), add_special_tokens=False, return_offsets_mapping=True)
    assert features.input_ids == encoded["input_ids"]  # same tokens as the whole rendered chat
    assert len(features.labels) == len(features.input_ids)
    for token, label, (s, e) in zip(features.input_ids, features.labels, encoded["offset_mapping"]):
        inside = any(start <= s and e <= end for start, end in learned)
        assert label == (token if inside else IGNORE), (tokenizer.decode([token]), s, e)
    assert tokenizer.decode([t for t in features.labels if t != IGNORE]) == (
        "Hey rider! Yes, three styles.\n\nRide bright!<|im_end|>Hey rider! From $25.\n\nRide bright!<|im_end|>")


def test_the_prompt_is_exactly_what_the_server_renders(tokenizer):
    conversation = [{"role": "user", "content": "How long is the warranty?"}]
    example = plain_examples([Example(7, conversation + [{"role": "assistant", "content": "Two years."}])],
                             SYSTEM)[0]
    features = format_example(tokenizer, example)
    served = build_prompt(SYSTEM, conversation, grounded=False).messages
    assert features.prompt_text == tokenizer.apply_chat_template(served, tokenize=False,
                                                                  add_generation_prompt=True)
    prompt_len = len(tokenizer(features.prompt_text, add_special_tokens=False)["input_ids"])
    assert features.input_ids[:prompt_len] == tokenizer(features.prompt_text, add_special_tokens=False)["input_ids"]
    assert set(features.labels[:prompt_len]) == {IGNORE}
    assert tokenizer.decode(features.labels[prompt_len:]) == "Two years.<|im_end|>"
    assert "SmolLM" not in features.prompt_text  # the template's default system prompt is replaced


def test_too_long_examples_name_file_line_and_length(tokenizer):
    examples = [TrainExample(line=3, messages=[{"role": "system", "content": SYSTEM},
                                               {"role": "user", "content": "word " * 300}], target="ok"),
                TrainExample(line=4, messages=[{"role": "system", "content": SYSTEM},
                                               {"role": "user", "content": "hi"}], target="ok")]
    with pytest.raises(DataError, match=r"train.jsonl:3: \d+ tokens .* maximum sequence length of 128"):
        format_examples(tokenizer, examples, max_seq_len=128, file="train.jsonl")
    kept, skipped = format_examples(tokenizer, examples, max_seq_len=128, file="train.jsonl", skip_invalid=True)
    assert [f.line for f in kept] == [4] and [p.line for p in skipped] == [3]
