"""The reader (``tenor.reader``): a real model's probability that a text answers a question."""

import pytest

from tenor.reader import Reader, ReaderError


def test_a_reader_gives_a_probability_from_the_models_own_yes_and_no(prepared_base_model):
    from tenor.reader import _prompt

    reader = Reader(str(prepared_base_model))  # SmolLM2-135M: too small to read well, real all the same
    question = "How much does the Cargo K1 cost?"
    charged = []
    answers = reader(question, "The Cargo K1 costs $3,999 and carries up to 180 kg.", on_read=charged.append)
    assert 0.0 < answers < 1.0
    tokenizer = reader._model[0]
    read = tokenizer.apply_chat_template(_prompt(question, "The Cargo K1 costs $3,999 and carries up to 180 kg.", ()),
                                         add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
    assert charged == [len(read)] and len(read) > 40  # the prompt as the model reads it: the chat template counts
    assert reader(question, "The Cargo K1 costs $3,999 and carries up to 180 kg.") == answers  # one greedy pass
    assert reader(question, "Our store in Portland opens at 9am on Saturdays.") != answers  # it reads the text
    loaded = reader._model
    assert reader.load() is reader and reader._model is loaded  # loaded once
    tokenizer, _, yes, no = loaded
    assert {tokenizer.decode([t]).strip() for t in yes} == {"Yes", "yes"}
    assert {tokenizer.decode([t]).strip() for t in no} == {"No", "no"}


def test_a_reader_that_cannot_load_names_the_setting_and_the_fix(tmp_path):
    with pytest.raises(ReaderError, match=r"retrieval\.reader: cannot use the model at .*tenor model prepare"):
        Reader(str(tmp_path)).load()


def test_a_follow_up_is_read_as_its_own_question_with_the_earlier_ones_as_context():
    from tenor.reader import _prompt, asked

    turns = [{"role": "user", "content": "Tell me about the Cargo K1."}, {"role": "assistant", "content": "Sure."},
             {"role": "user", "content": "How many kilos can it haul?"}]
    question, earlier = asked(turns)
    assert (question, earlier) == ("How many kilos can it haul?", ["Tell me about the Cargo K1."])
    prompt = _prompt(question, "It carries up to 180 kg.", earlier)[-1]["content"]
    assert "Earlier questions, for context: Tell me about the Cargo K1.\nQuestion: How many kilos can it haul?" in prompt
    assert asked(turns[-1:]) == ("How many kilos can it haul?", [])


class _Says(Reader):
    """A stand-in reader: "Yes" (0.9) to the text ``answer``, "No" (0.5) to any other."""

    def __init__(self, answer: str):
        self.answer, self.read = answer, []

    def __call__(self, question, text, earlier=(), on_read=None):
        self.read.append(text)
        if on_read is not None:
            on_read(1)
        return 0.9 if text == self.answer else 0.5


def test_passages_are_read_one_by_one_until_one_answers():
    from types import SimpleNamespace

    passages = [SimpleNamespace(text=t) for t in ("The fridge: put food away soon.",
                                                  "Boxes keep food chilled for 24 hours.", "Safe places: a porch.")]
    question = [{"role": "user", "content": "How long will the food stay cold on the doorstep?"}]
    reader, charged = _Says("Boxes keep food chilled for 24 hours."), []
    assert reader.reads_each(question, passages, 0.8, charged.append) == 0.9
    assert reader.read == [p.text for p in passages[:2]] and charged == [1, 1]  # not the third: each read charged
    none = _Says("no such text")
    assert none.reads_each(question, passages, 0.8) == 0.5 and none.read == [p.text for p in passages]


def test_a_read_runs_on_every_core_though_the_server_keeps_torch_on_one(prepared_base_model, monkeypatch):
    import torch

    import tenor.reader

    monkeypatch.setattr(tenor.reader, "cores", lambda: 2)
    reader = Reader(str(prepared_base_model)).load()
    during = []
    hook = reader._model[1].register_forward_pre_hook(lambda *_: during.append(torch.get_num_threads()))
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # as assistant.app leaves it for the query embedder
    try:
        reader("How much does the Cargo K1 cost?", "The Cargo K1 costs $3,999.")
        assert during == [2]  # one read, on both cores (on one it took twice as long)
        assert torch.get_num_threads() == 1  # and the embedder's one thread back after it
    finally:
        hook.remove()
        torch.set_num_threads(before)


def test_the_reader_computes_in_bfloat16_only_where_the_cpu_does(prepared_base_model, tmp_path, monkeypatch):
    """Without AVX-512 BF16 or AMX, torch emulates bfloat16: a read took several times as long
    as in float32 (bench/reader_dtype.py), and the evidence gate waits for it."""
    import torch

    import tenor.reader
    from tenor.reader import native_bfloat16

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx avx2 fma avx512f avx512_bf16x\nbugs\t\t: avx512_bf16\n")
    assert not native_bfloat16(cpuinfo)  # only the flags line counts, and only the whole name
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_tile\n")
    assert native_bfloat16(cpuinfo)
    cpuinfo.write_text("processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n")  # Arm
    assert native_bfloat16(cpuinfo)
    assert not native_bfloat16(tmp_path / "missing")
    monkeypatch.setattr(tenor.reader, "native_bfloat16", lambda: False)
    emulated = Reader(str(prepared_base_model)).load()
    assert emulated.dtype == "float32" and emulated._model[1].dtype == torch.float32
    monkeypatch.setattr(tenor.reader, "native_bfloat16", lambda: True)
    assert Reader(str(prepared_base_model)).dtype == "bfloat16"
    assert Reader(str(prepared_base_model), "float32").dtype == "float32"  # as asked
