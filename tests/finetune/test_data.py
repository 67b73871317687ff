"""Validation of chat training data: every bad line is named with file, line and reason."""

import json

import pytest

from finetune.data import DataError, load_examples, parse_line
from tests.conftest import EXAMPLES


def conv(*pairs, system=None):
    messages = [{"role": "system", "content": system}] if system else []
    messages += [{"role": role, "content": content} for role, content in pairs]
    return json.dumps({"messages": messages})


GOOD = conv(("user", "Hi"), ("assistant", "Hey rider! Hello."))


def write(tmp_path, *lines, name="data.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("line, reason", [
    ('{"messages": [{"role": "user", "content": "Hi"}', "malformed JSON"),
    (conv(("user", "Hi"), ("robot", "beep")), "unknown role 'robot'"),
    (conv(("user", "Hi"), ("assistant", "   ")), "empty content"),
    (conv(("user", "Hi"), ("assistant", "Hello"), ("user", "And?")), "does not end with an assistant turn"),
    (conv(("assistant", "Hello")), "no user message"),
    ('{"prompt": "Hi", "completion": "Hello"}', 'missing "messages"'),
    ('[1, 2]', "expected a JSON object"),
    (json.dumps({"messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": "x"}]}),
     "content must be a string"),
])
def test_each_kind_of_bad_line_is_named_with_file_line_and_reason(tmp_path, line, reason):
    path = write(tmp_path, GOOD, line, GOOD.replace("Hello", "Hi there"))
    with pytest.raises(DataError) as caught:
        load_examples(path)
    message = str(caught.value)
    assert f"{path}:2: " in message and reason in message
    assert [p.line for p in caught.value.problems] == [2]
    assert "--skip-invalid" in message


def test_every_bad_line_is_reported_not_just_the_first(tmp_path):
    path = write(tmp_path, "not json", GOOD, conv(("user", "x"), ("bot", "y")), "")
    with pytest.raises(DataError) as caught:
        load_examples(path)
    assert [p.line for p in caught.value.problems] == [1, 3]
    assert str(caught.value).startswith("2 invalid lines")


def test_skip_invalid_trains_on_the_rest_and_reports_skipped_lines(tmp_path):
    path = write(tmp_path, GOOD, "{oops", conv(("user", "Q"), ("assistant", "A")))
    report = load_examples(path, skip_invalid=True)
    assert [e.line for e in report.examples] == [1, 3]
    assert report.to_dict()["skipped"] == [f"{path}:2: malformed JSON (Expecting property name "
                                           "enclosed in double quotes at column 2)"]


def test_duplicates_are_reported_and_dropped_keeping_the_first(tmp_path):
    spaced = conv(("user", "Hi "), ("assistant", "Hey rider! Hello."))
    path = write(tmp_path, GOOD, conv(("user", "Q"), ("assistant", "A")), spaced)
    report = load_examples(path)
    assert [e.line for e in report.examples] == [1, 2]
    assert [str(d) for d in report.duplicates] == [f"{path}:3: duplicate of line 1"]


def test_system_message_parts_and_weights_are_accepted(tmp_path):
    record = {"messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Hel"}, {"type": "text", "text": "lo"}]},
        {"role": "assistant", "content": "old answer", "weight": 0},
        {"role": "user", "content": "again"},
        {"role": "assistant", "content": "new answer"},
    ], "id": "extra keys are tolerated"}
    messages = parse_line(json.dumps(record))
    assert messages[1]["content"] == "Hello" and messages[2]["weight"] == 0


def test_a_final_turn_with_weight_zero_is_an_error():
    with pytest.raises(ValueError, match="nothing to learn"):
        parse_line(json.dumps({"messages": [{"role": "user", "content": "Q"},
                                            {"role": "assistant", "content": "A", "weight": 0}]}))


def test_missing_file_and_empty_file_are_errors(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_examples(tmp_path / "nope.jsonl")
    with pytest.raises(DataError, match="no valid conversations"):
        load_examples(write(tmp_path, "", ""))


def test_the_sample_voice_data_is_valid_and_has_no_duplicates():
    report = load_examples(EXAMPLES / "voice" / "train.jsonl")
    assert len(report.examples) >= 60 and not report.duplicates
