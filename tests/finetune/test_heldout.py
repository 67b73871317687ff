"""The held-out check after training: voice and groundedness of answers to the served prompt."""

from dataclasses import dataclass

from finetune import evaluate
from finetune.format import TrainExample
from tenor.config import Profile, VoiceRules

WARRANTY = "Frames are covered for the lifetime of the original owner. Motors and batteries are covered for 2 years."


@dataclass
class P:
    text: str
    section: str | None = "Warranty"


class Tokenizer:
    chat_template = "x"

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True):
        return "|".join(m["content"] for m in messages) + ("|assistant:" if add_generation_prompt else "")


def example(line, question, no_answer=False):
    return TrainExample(line=line, messages=[{"role": "system", "content": "S"}, {"role": "user", "content": question}],
                        target="", passages=[P(WARRANTY)], no_answer=no_answer)


def test_heldout_answers_are_scored_for_voice_and_groundedness(monkeypatch):
    prompts = []

    def answers(model, tokenizer, texts, **kwargs):
        prompts.extend(texts)
        return ["Hey rider! Motors and batteries are covered for 2 years. Ride on!",  # in voice, supported
                "The frame is covered for 5 years."]  # no greeting, invented

    monkeypatch.setattr(evaluate, "generate_texts", answers)
    profile = Profile(name="shop", collection="shop", voice=VoiceRules(required=["Hey rider!"]))
    held = [example(3, "How long are motors covered?"), example(4, "Out of scope?", no_answer=True),
            example(7, "And the frame?")]
    report = evaluate.heldout_check(None, Tokenizer(), held, profile, limit=5)
    assert prompts == ["S|How long are motors covered?|assistant:", "S|And the frame?|assistant:"]  # as served
    assert report["answers"] == 2 and report["voice"] == 0.5 and report["groundedness"] == 0.5
    assert [(r["line"], r["voice"], r["groundedness"]) for r in report["rows"]] == [(3, True, 1.0), (7, False, 0.0)]
