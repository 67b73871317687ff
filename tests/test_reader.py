"""The reader (``tenor.reader``): a real model's probability that a text answers a question."""

import pytest

from tenor.reader import Reader, ReaderError


def test_a_reader_gives_a_probability_from_the_models_own_yes_and_no(prepared_base_model):
    reader = Reader(str(prepared_base_model))  # SmolLM2-135M: too small to read well, real all the same
    question = "How much does the Cargo K1 cost?"
    answers = reader(question, "The Cargo K1 costs $3,999 and carries up to 180 kg.")
    assert 0.0 < answers < 1.0
    assert reader(question, "The Cargo K1 costs $3,999 and carries up to 180 kg.") == answers  # one greedy pass
    assert reader(question, "Our store in Portland opens at 9am on Saturdays.") != answers  # it reads the text
    assert reader.load() is reader  # loaded once


def test_a_reader_that_cannot_load_names_the_setting_and_the_fix(tmp_path):
    with pytest.raises(ReaderError, match=r"retrieval\.reader: cannot load a model from .*tenor model prepare"):
        Reader(str(tmp_path)).load()
