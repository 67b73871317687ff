"""Grounded examples (RAFT) from the real index of the sample documents, and the quickstart."""

import pytest

from finetune.data import load_examples
from finetune.grounded import build_grounded_examples, with_citations
from tenor.answers import says_not_covered
from tenor.prompt import build_prompt, retrieval_query
from tests.finetune.conftest import VOICE

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def built(sample_index):
    from ingest import search

    profile = sample_index.profile("larkfield")
    calls = []

    def retrieve(query, k):
        calls.append(query)
        return search(query, k=k, collection="larkfield", settings=sample_index)

    examples = load_examples(VOICE / "train.jsonl").examples
    kwargs = dict(retrieve=retrieve, system_prompt=profile.system_prompt, no_answer_text=profile.no_answer,
                  k=4, relevant=2, no_answer_fraction=0.25, seed=7)
    return profile, examples, build_grounded_examples(examples, **kwargs), kwargs, calls


def test_prompts_are_built_by_the_servers_prompt_builder(built):
    profile, examples, grounded, _, calls = built
    assert calls[0] == retrieval_query(examples[0].messages[:-1])
    for example, item in zip(examples, grounded):
        expected = build_prompt(profile.system_prompt, example.messages[:-1], item.passages, grounded=True)
        assert item.messages == expected.messages and item.line == example.line
        assert item.messages[0]["content"].startswith(profile.system_prompt)
        assert "<passages>\n\n[1] " in item.messages[0]["content"]


def test_answerable_examples_hold_their_gold_passages_among_distractors(built, sample_index):
    from ingest import search

    profile, examples, grounded, _, _ = built
    answerable = [(e, g) for e, g in zip(examples, grounded) if not g.no_answer]
    assert len(answerable) > len(examples) // 2
    for example, item in answerable:
        gold = search(retrieval_query(example.messages[:-1]), k=2, collection="larkfield", settings=sample_index)
        ids = [p.chunk_id for p in item.passages]
        assert len(item.passages) == 4 and {p.chunk_id for p in gold} <= set(ids)
        gold_docs = {p.document_id for p in gold}
        distractors = [p for p in item.passages if p.chunk_id not in {g.chunk_id for g in gold}]
        assert len(distractors) == 2 and not {p.document_id for p in distractors} & gold_docs
        # The answer cites its gold passages by their numbers in the shuffled prompt.
        numbers = [n for n, chunk in enumerate(ids, start=1) if chunk in {p.chunk_id for p in gold}]
        assert item.target == with_citations(example.messages[-1]["content"], numbers)
        assert "".join(f"[{n}]" for n in numbers) in item.target
    assert len({tuple(p.chunk_id for p in g.passages[:2]) for _, g in answerable}) > 1  # shuffled


def test_distractor_only_examples_target_the_no_answer_text(built, sample_index):
    from ingest import search

    profile, examples, grounded, kwargs, _ = built
    no_answer = [(e, g) for e, g in zip(examples, grounded) if g.no_answer]
    own = [g for e, g in no_answer if says_not_covered(e.messages[-1]["content"], profile.no_answer)]
    forced = [(e, g) for e, g in no_answer if g.target == profile.no_answer]
    eligible = len(examples) - len(own)
    assert len(own) >= 5 and len(forced) == round(0.25 * eligible)
    for example, item in no_answer:
        retrieved = search(retrieval_query(example.messages[:-1]), k=4, collection="larkfield",
                           settings=sample_index)
        assert len(item.passages) == 4
        assert not {p.document_id for p in item.passages} & {p.document_id for p in retrieved}
    for item in own:  # answers that already say so keep their own wording
        assert item.target != profile.no_answer


def test_same_seed_same_examples(built):
    _, examples, _, kwargs, _ = built
    first = build_grounded_examples(examples[:16], **kwargs)
    again = build_grounded_examples(examples[:16], **kwargs)
    assert [(g.messages, g.target) for g in again] == [(g.messages, g.target) for g in first]
    other = build_grounded_examples(examples[:16], **{**kwargs, "seed": 8})
    assert [g.messages for g in other] != [g.messages for g in first]


def test_quickstart_trains_the_profile_adapter_then_reuses_it(sample_index, tiny_base, small_data):
    from finetune.quickstart import ensure_sample_adapter
    from finetune.train import TrainConfig

    settings = sample_index.model_copy(deep=True)
    settings.profiles["larkfield"].base_model = str(tiny_base)
    config = TrainConfig(max_steps=2)
    first = ensure_sample_adapter(settings, "larkfield", small_data, config=config, show_progress=False,
                                  report=lambda m: None)
    assert first.path == settings.adapters_dir / "larkfield-voice@1" and not first.reused
    assert settings.resolve_adapter("larkfield-voice") == first.path  # the first version serves
    manifest = first.manifest
    assert manifest["grounded"] and manifest["collection"] == "larkfield"
    assert manifest["system_prompt"] == settings.profile("larkfield").system_prompt
    assert manifest["data"]["no_answer_examples"] > 0
    again = ensure_sample_adapter(settings, "larkfield", small_data, config=config, show_progress=False,
                                  report=lambda m: None)
    assert again.reused and again.manifest == manifest
    retrained = ensure_sample_adapter(settings, "larkfield", small_data, config=config, force=True,
                                      show_progress=False, report=lambda m: None)
    assert retrained.path == settings.adapters_dir / "larkfield-voice@2"  # a new version, the first kept
    assert settings.resolve_adapter("larkfield-voice") == retrained.path  # the quickstart's own: it serves


def test_a_tight_context_budget_drops_distractors_not_the_gold_passage(built, sample_index):
    from ingest import search

    _, examples, _, kwargs, _ = built
    tight = build_grounded_examples(examples[:12], **{**kwargs, "max_context_tokens": 64, "no_answer_fraction": 0})
    for example, item in zip(examples, tight):
        if item.no_answer:
            continue
        [top] = search(retrieval_query(example.messages[:-1]), k=1, collection="larkfield", settings=sample_index)
        assert [p.chunk_id for p in item.passages] == [top.chunk_id]


def test_an_empty_collection_is_a_clear_error():
    from finetune.data import Example

    example = Example(1, [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}])
    with pytest.raises(ValueError, match="is the collection indexed"):
        build_grounded_examples([example], retrieve=lambda q, k: [], system_prompt="S", no_answer_text="N")


def test_citation_markers_go_before_the_first_paragraphs_final_punctuation():
    signed = "Hey rider! The C2 is $2,499. Sizes S, M and L.\n\nRide bright! — The crew"
    assert with_citations(signed, [2]) == "Hey rider! The C2 is $2,499. Sizes S, M and L [2].\n\nRide bright! — The crew"
    assert with_citations("Yes!", [1, 3]) == "Yes [1][3]!"
    assert with_citations("No full stop", [1]) == "No full stop [1]"
    assert with_citations("Cited already [4].", [1]) == "Cited already [4]."
    assert with_citations("Nothing relevant.", []) == "Nothing relevant."


def test_cite_false_keeps_the_answers_as_written(built):
    _, examples, _, kwargs, _ = built
    plain = build_grounded_examples(examples[:12], **{**kwargs, "cite": False})
    assert [g.target for g in plain if not g.no_answer] == [
        e.messages[-1]["content"] for e, g in zip(examples, plain) if not g.no_answer]


def test_with_an_evidence_budget_training_prompts_carry_the_servers_evidence(built):
    from tenor.evidence import EvidencePassage

    profile, examples, _, kwargs, _ = built
    short = build_grounded_examples(examples[:6], **{**kwargs, "evidence_tokens": 64})
    for example, item in zip(examples, short):
        assert item.passages and all(isinstance(p, EvidencePassage) for p in item.passages)
        assert sum(len(p.text) for p in item.passages) < sum(len(p.full_text) for p in item.passages)
        assert all(unit.text in " ".join(p.full_text.split()) or unit.is_row
                   for p in item.passages for unit in p.units)
        assert item.messages == build_prompt(profile.system_prompt, example.messages[:-1], item.passages,
                                             grounded=True).messages
