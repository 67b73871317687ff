"""Grounding without HTTP: threshold, history-aware retrieval, token budget, citations."""

import pytest

from assistant.app import make_index_for
from assistant.grounding import GroundingError, GroundingService, _reaches_us
from tenor.evidence import WORDS_ONLY
from tenor.reader import Reader
from tests.assistant.conftest import sample_settings


def prompt_tokens(meter, messages) -> int:
    """The prompt's length as the meter counts it, chat template included."""
    return meter.per_prompt + sum(meter.count(m["content"]) + meter.per_message for m in messages)


@pytest.fixture(scope="module")
def service(indexed_home):
    settings = sample_settings(indexed_home)
    return GroundingService(settings, make_index_for(settings)), settings


def test_question_on_the_docs_is_grounded_with_numbered_citations(service):
    grounding, settings = service
    g = grounding.ground(settings.profile("larkfield"), [{"role": "user", "content": "How long is the warranty on the frame?"}])
    assert g.no_answer is None
    assert g.citations[0]["document_id"] == "warranty.pdf"
    assert [c["index"] for c in g.citations] == list(range(1, len(g.citations) + 1))
    assert all(c["score"] >= settings.profile("larkfield").retrieval.min_score for c in g.citations)
    system = g.messages[0]["content"]
    # the prompt carries the evidence (the sentences on the frame's warranty); citations the whole passage
    assert "[1] " in system and g.evidence[0].text in system and "frame" in g.evidence[0].text.lower()
    assert g.citations[0]["text"] == g.evidence[0].full_text and len(g.evidence[0].text) < len(g.evidence[0].full_text)
    assert g.messages[-1] == {"role": "user", "content": "How long is the warranty on the frame?"}


def test_nothing_above_the_threshold_gives_the_profiles_no_answer(service):
    grounding, settings = service
    profile = settings.profile("larkfield")
    g = grounding.ground(profile, [{"role": "user", "content": "What is the capital of Mongolia?"}])
    assert g.no_answer == profile.no_answer and g.messages == [] and g.citations == []


def test_threshold_is_the_profiles_min_score(service):
    grounding, settings = service
    profile = settings.profile("larkfield").model_copy(deep=True)
    question = [{"role": "user", "content": "How long is the warranty on the frame?"}]
    profile.retrieval.min_score = 0.99
    assert grounding.ground(profile, question).no_answer is not None
    profile.retrieval.min_score = -1.0
    profile.retrieval.max_context_tokens = 100_000
    profile.retrieval.evidence_tokens = 0  # whole passages: none dropped for lack of evidence
    assert len(grounding.ground(profile, question).citations) == profile.retrieval.k


def test_follow_up_retrieves_about_the_earlier_topic(service):
    grounding, settings = service
    profile = settings.profile("larkfield")
    follow_up = [{"role": "user", "content": "Tell me about the Cargo K1 bike."},
                 {"role": "assistant", "content": "It is our cargo e-bike."},
                 {"role": "user", "content": "and how much is it?"}]
    alone = grounding.ground(profile, follow_up[-1:])
    with_history = grounding.ground(profile, follow_up)
    docs = [c["document_id"] for c in with_history.citations]
    assert any("cargo" in d or d == "products.md" for d in docs[:2]), docs
    assert with_history.query.startswith("Tell me about the Cargo K1") and alone.query == "and how much is it?"


def test_a_follow_up_is_about_what_the_answer_before_it_named(service):
    """ "And how much is it?" after an answer that alone named the bike: its query held
    only the user's turns, so nothing said which bike "it" was."""
    grounding, settings = service
    profile = settings.profile("larkfield")
    asked = {"role": "user", "content": "Which of your bikes is best for taking two kids to school?"}
    price = {"role": "user", "content": "And how much is it?"}
    named_turns = [asked, {"role": "assistant", "content":
                           "Hey rider! The Cargo K1 is the one.\n\n- **Price:** $3,899\n\nRide bright! — The Larkfield crew"},
                   price]
    named = grounding.ground(profile, named_turns)
    lines = named.query.splitlines()
    assert lines == [asked["content"], "Cargo K1", price["content"]]  # no "Larkfield" (the voice's), no "Price"
    assert any("Cargo K1" in (c["section"] or "") for c in named.citations[:2]), named.citations
    unknown = grounding.ground(profile, [asked, {"role": "assistant", "content": "The Zephyr Z9 is the one."}, price])
    assert unknown.query.splitlines() == [asked["content"], price["content"]]  # no document mentions it
    own = [asked, {"role": "assistant", "content": "The Cargo K1 is the one."},
           {"role": "user", "content": "And how much is the Fold F1?"}]
    assert grounding.ground(profile, own).query.splitlines() == [asked["content"], own[-1]["content"]]
    earlier = [{"role": "user", "content": "Tell me about the Trail T3"}, {"role": "assistant", "content":
               "The Trail T3 is our mountain bike; the Cargo K1 carries more."}, price]
    assert grounding.ground(profile, earlier).query.splitlines() == [earlier[0]["content"], price["content"]]
    brand = [asked, {"role": "assistant", "content": "- **Note:** every Larkfield bike can take one."}, price]
    assert grounding.ground(profile, brand).query.splitlines() == [asked["content"], price["content"]]
    moved_on = [*named_turns[:2], {"role": "user", "content": "Thanks.\nWhat's your returns policy?"}]
    assert grounding.ground(profile, moved_on).query.splitlines() == [asked["content"], "Thanks.",
                                                                     "What's your returns policy?"]
    starts = [asked, {"role": "assistant", "content": "The Cargo K1 is the one."},
              {"role": "user", "content": "Great, and the price?"}]
    assert grounding.ground(profile, starts).query.splitlines() == [asked["content"], "Cargo K1", "Great, and the price?"]
    new_question = [*named_turns[:2], {"role": "user", "content": "Do you have a bike that folds?"}]
    assert grounding.ground(profile, new_question).query.splitlines() == [asked["content"], new_question[-1]["content"]]
    two_lines = [*named_turns[:2], {"role": "user", "content": "Great.\nAnd how much is it?"}]
    assert grounding.ground(profile, two_lines).query.splitlines() == [asked["content"], "Cargo K1", "Great.",
                                                                      "And how much is it?"]


def test_a_very_long_conversation_is_trimmed_not_rejected(service):
    grounding, settings = service
    profile = settings.profile("larkfield")
    turns = []
    for i in range(200):
        turns += [{"role": "user", "content": f"Question {i} about batteries " + "blah " * 50},
                  {"role": "assistant", "content": "An answer " + "words " * 50}]
    turns.append({"role": "user", "content": "How should I store the battery in winter?"})
    g = grounding.ground(profile, turns)
    assert g.trimmed_turns > 300
    assert prompt_tokens(grounding.meter_for(profile), g.messages) <= grounding.prompt_budget(None)
    assert g.messages[-1]["content"] == "How should I store the battery in winter?"


def test_a_single_huge_message_is_cut_to_fit(service):
    grounding, settings = service
    profile = settings.profile("larkfield")
    g = grounding.ground(profile, [{"role": "user", "content": "battery " * 20000}], max_tokens=256)
    assert prompt_tokens(grounding.meter_for(profile), g.messages) <= grounding.prompt_budget(256)


def test_retrieval_off_sends_the_plain_prompt(service):
    grounding, settings = service
    profile = settings.profile("larkfield")
    g = grounding.ground(profile, [{"role": "user", "content": "What is the capital of Mongolia?"}], retrieval=False)
    assert g.no_answer is None and g.citations == []
    assert "<passages>" not in g.messages[0]["content"]


def test_filters_restrict_the_documents(service):
    grounding, settings = service
    g = grounding.ground(settings.profile("larkfield"), [{"role": "user", "content": "How long is the warranty?"}],
                         filters={"document_id": "battery-care.txt"})
    assert {c["document_id"] for c in g.citations} <= {"battery-care.txt"}


def test_an_invalid_filter_is_a_grounding_error(service):
    grounding, settings = service
    with pytest.raises(GroundingError):
        grounding.ground(settings.profile("larkfield"), [{"role": "user", "content": "warranty"}],
                         filters={"$bogus": [1]})


def test_a_question_the_evidence_does_not_cover_gets_no_answer_whatever_the_scores(service):
    grounding, settings = service
    profile = settings.profile("larkfield").model_copy(deep=True)
    profile.retrieval.min_score = -1.0  # the score gate alone lets every passage through
    question = [{"role": "user", "content": "Which insurance company is your partner?"}]
    g = grounding.ground(profile, question)
    assert g.no_answer == profile.no_answer and g.coverage < profile.retrieval.min_coverage
    profile.retrieval.min_coverage = 0.0
    assert grounding.ground(profile, question).no_answer is None


def test_the_prompt_carries_evidence_within_the_budget_numbered_like_the_citations(service):
    grounding, settings = service
    profile = settings.profile("larkfield").model_copy(deep=True)
    profile.retrieval.evidence_tokens = 60
    g = grounding.ground(profile, [{"role": "user", "content": "What does the Cargo K1 cost?"}])
    assert "$3,899" in g.messages[0]["content"]
    count = grounding.meter_for(settings.profile("larkfield")).count
    assert sum(count(e.text) for e in g.evidence) <= 60 + 8 * len(g.evidence)
    for c, e in zip(g.citations, g.evidence, strict=True):
        assert f"[{c['index']}] {e.document_id}" in g.messages[0]["content"] and c["text"] == e.full_text


def test_citations_link_to_the_documents_public_page_and_only_over_http():
    from assistant.grounding import citation
    from ingest.models import Passage

    def cite(url):
        return citation(1, Passage(text="t", score=0.5, document_id="d", source="s", metadata={"url": url}))

    assert cite("https://help.example/articles/101")["url"] == "https://help.example/articles/101"
    assert cite("javascript:alert(1)")["url"] is None  # the widget renders it as a link
    assert citation(1, Passage(text="t", score=0.5, document_id="d", source="s"))["url"] is None


def test_a_question_naming_something_no_document_mentions_gets_no_answer(service):
    grounding, settings = service
    profile = settings.profile("larkfield").model_copy(deep=True)
    profile.retrieval.min_coverage = 0.0  # coverage alone would let it through
    question = [{"role": "user", "content": "Are you opening a store in Europe?"}]
    g = grounding.ground(profile, question)
    assert g.no_answer == profile.no_answer and g.unknown_names == ["Europe"]
    # names the documents do mention, in another form too, change nothing
    named = grounding.ground(profile, [{"role": "user", "content": "Is the Cargo K1 good for Saturdays?"}])
    assert named.no_answer is None and named.unknown_names == []
    profile.retrieval.refuse_unknown_names = False
    assert grounding.ground(profile, question).no_answer is None


def test_a_follow_up_is_answered_from_its_subject_not_a_sibling(service):
    grounding, settings = service
    profile = settings.profile("larkfield").model_copy(deep=True)
    profile.retrieval.min_coverage = 0.0  # see which passages reach the prompt, whatever the gate says
    rack = [{"role": "user", "content": "Tell me about the Fold F1"},
            {"role": "assistant", "content": "The Fold F1 is our lightest bike."},
            {"role": "user", "content": "What's the weight limit for its rack?"}]
    kept = grounding.ground(profile, rack)
    assert kept.citations and not any("Cargo K1" in (c["section"] or "") for c in kept.citations), kept.citations
    profile.retrieval.follow_ups_keep_subject = False
    loose = grounding.ground(profile, rack)
    assert any("Cargo K1" in (c["section"] or "") for c in loose.citations)  # the load limit of another bike
    kids = [{"role": "user", "content": "Tell me about the Cargo K1"},
            {"role": "assistant", "content": "It is our cargo bike."},
            {"role": "user", "content": "Can it carry my two kids?"}]
    profile.retrieval.follow_ups_keep_subject = True
    assert any("Child Seats" in (c["section"] or "") for c in grounding.ground(profile, kids).citations)


def test_a_question_in_other_words_is_answered_by_meaning_and_words_go_first(service):
    grounding, settings = service
    profile = settings.profile("larkfield").model_copy(deep=True)
    profile.retrieval.dense_k = 0  # the hybrid passages alone (the dense ones' words cover it)
    question = [{"role": "user", "content": "How many kilos can the Cargo K1 haul?"}]  # the docs: "carries up to 180 kg"
    g = grounding.ground(profile, question)
    assert g.no_answer is None and g.coverage < profile.retrieval.min_coverage
    assert g.similarity >= profile.retrieval.min_similarity
    assert any("carries up to 180 kg" in e.text for e in g.evidence)
    profile.retrieval.min_similarity = 1.01  # words only: the gate refuses it
    words = grounding.ground(profile, question)
    assert words.no_answer == profile.no_answer and words.similarity is None
    covered = grounding.ground(settings.profile("larkfield"), [{"role": "user", "content": "What does the Cargo K1 cost?"}])
    assert covered.no_answer is None and covered.similarity is None  # the words cover it: nothing embedded


def test_a_question_about_reaching_the_company_gets_the_contact_details_whatever_their_score(service):
    grounding, settings = service
    profile = settings.profile("larkfield")
    question = [{"role": "user", "content": "What's your email?"}]
    assert grounding.relevant(profile, grounding.retrieve(profile, question)[0]) == []  # all under min_score
    g = grounding.ground(profile, question)
    assert g.no_answer is None and [c["section"] for c in g.citations] == ["Store and Contact > Contact Us"]
    assert "help@larkfieldcycles.example" in g.evidence[0].text
    assert not _reaches_us("Claims: warranty@larkfieldcycles.example.", "What's your phone number?")  # the kind asked
    assert _reaches_us("Phone: (503) 555-0142.", "What's your phone number?")
    update = grounding.ground(profile, [{"role": "user", "content": "How do I update my email address?"}])
    assert "Store and Contact > Contact Us" not in [c["section"] for c in update.citations]  # not about reaching us


class Reading(Reader):
    """A stand-in reader (the real one is ``tests/test_reader.py``): a set probability, what it was
    asked, and each read's prompt tokens, one a character."""

    def __init__(self, probability: float):  # no model to load
        self.probability = probability
        self.asked: list[tuple[str, str, tuple]] = []

    def __call__(self, question: str, text: str, earlier=(), on_read=None) -> float:
        self.asked.append((question, text, tuple(earlier)))
        if on_read is not None:
            on_read(len(question) + len(text))
        return self.probability


def test_a_reader_lets_in_what_words_and_meaning_miss_and_reads_nothing_else(indexed_home):
    settings = sample_settings(indexed_home)
    reading = Reading(0.9)
    grounding = GroundingService(settings, make_index_for(settings),
                                 reader_for=lambda s, profile: reading if profile.retrieval.reader else None)
    profile = settings.profile("larkfield").model_copy(deep=True)
    profile.retrieval.min_similarity, profile.retrieval.dense_k = WORDS_ONLY, 0  # the hybrid passages alone (above)
    question = [{"role": "user", "content": "How many kilos can the Cargo K1 haul?"}]  # the docs: "carries up to 180 kg"
    assert grounding.ground(profile, question).no_answer == profile.no_answer  # no reader: words alone refuse it
    profile.retrieval.reader = "a-reader"
    g = grounding.ground(profile, question)
    assert g.no_answer is None and g.read == 0.9
    assert reading.asked == [("How many kilos can the Cargo K1 haul?", "\n\n".join(e.text for e in g.evidence), ())]
    assert "carries up to 180 kg" in reading.asked[0][1]
    reading.probability = 0.5  # below reader_threshold
    refused = grounding.ground(profile, question)
    assert refused.no_answer == profile.no_answer and refused.read == 0.5
    asked = len(reading.asked)
    assert grounding.ground(profile, [{"role": "user", "content": "What does the Cargo K1 cost?"}]).read is None
    europe = grounding.ground(profile, [{"role": "user", "content": "Are you opening a store in Europe?"}])
    assert europe.read is None and europe.unknown_names == ["Europe"]
    assert len(reading.asked) == asked  # words that cover it, or a name no document mentions: no reading
    follow_up = [{"role": "user", "content": "Tell me about the Cargo K1."}, {"role": "assistant", "content": "Sure."},
                 {"role": "user", "content": "How many kilos can it haul?"}]
    grounding.ground(profile, follow_up)
    assert len(reading.asked) == asked + 1  # the follow-up's own question, its earlier one as context
    assert reading.asked[-1][0] == "How many kilos can it haul?" and reading.asked[-1][2] == ("Tell me about the Cargo K1.",)


def test_a_question_refused_on_the_hybrid_passages_gets_a_second_chance_on_the_dense_ones(indexed_home):
    settings = sample_settings(indexed_home)
    index = make_index_for(settings)
    question = [{"role": "user", "content": "How many kilos can the Cargo K1 haul?"}]  # the docs: "carries up to 180 kg"
    profile = settings.profile("larkfield").model_copy(deep=True)
    retrieval = profile.retrieval  # neither words nor meaning let anything in: the reader decides
    retrieval.min_coverage, retrieval.min_similarity, retrieval.reader = 1.01, WORDS_ONLY, "a-reader"
    hybrid = {p.chunk_id for p in index("larkfield").search(question[0]["content"], k=retrieval.k)}
    dense = [p.chunk_id for p in index("larkfield").search(question[0]["content"], k=retrieval.dense_k, mode="dense")]
    extra = [c for c in dense if c not in hybrid]
    assert extra  # what this test is about: the dense search finds passages the fusion left out

    class Alone(Reading):  # "No" to the hybrid passages' evidence, "Yes" to a dense passage read alone
        def __call__(self, question, text, earlier=(), on_read=None):
            super().__call__(question, text, earlier, on_read)
            return 0.9 if len(self.asked) > 1 else 0.5

    reading, charged = Alone(0.5), []
    grounding = GroundingService(settings, index, reader_for=lambda s, profile: reading)
    g = grounding.ground(profile, question, on_read=charged.append)
    assert g.no_answer is None and g.read == 0.9 and len(reading.asked) == 2 and len(charged) == 2  # each charged
    assert {e.chunk_id for e in g.evidence} <= set(extra)  # the evidence is the dense passages'
    assert reading.asked[1][1] in [e.text for e in g.evidence]  # read alone: one passage
    admitting = Reading(0.9)  # the hybrid passages let it in: no second search, one read
    grounding = GroundingService(settings, index, reader_for=lambda s, profile: admitting)
    assert grounding.ground(profile, question).no_answer is None and len(admitting.asked) == 1
    refusing = Reading(0.5)  # "No" to everything: refused after reading each dense passage alone
    grounding = GroundingService(settings, index, reader_for=lambda s, profile: refusing)
    assert grounding.ground(profile, question).no_answer == profile.no_answer and len(refusing.asked) == 1 + len(extra)
    retrieval.dense_k = 0  # no second chance
    refusing.asked = []
    assert grounding.ground(profile, question).no_answer == profile.no_answer and len(refusing.asked) == 1
    retrieval.dense_k, retrieval.mode, retrieval.k = 4, "dense", 2  # dense mode: no second chance either
    refusing.asked = []
    assert grounding.ground(profile, question).no_answer == profile.no_answer and len(refusing.asked) == 1
    retrieval.mode, retrieval.k = "hybrid", 4
    modes, search = [], grounding.retrieve
    grounding.retrieve = lambda *args, **kwargs: modes.append(kwargs.get("mode")) or search(*args, **kwargs)
    assert grounding.ground(profile, question).no_answer == profile.no_answer and modes == [None, "dense"]
    modes.clear()  # a name no document mentions is refused as it stands: no dense search, nothing read
    refusing.asked = []
    named = [{"role": "user", "content": "How many kilos can the Cargo K1 haul in Europe?"}]
    refused = grounding.ground(profile, named)
    assert refused.unknown_names == ["Europe"] and modes == [None] and refusing.asked == []


def reading_profile(indexed_home) -> tuple[GroundingService, object, Reading]:
    """The sample's profile read by a stand-in reader (at 0.9), words alone letting in what they cover."""
    settings = sample_settings(indexed_home)
    reading = Reading(0.9)
    grounding = GroundingService(settings, make_index_for(settings),
                                 reader_for=lambda s, profile: reading if profile.retrieval.reader else None)
    profile = settings.profile("larkfield").model_copy(deep=True)
    profile.retrieval.min_similarity, profile.retrieval.reader = WORDS_ONLY, "a-reader"
    return grounding, profile, reading


def test_the_reader_that_let_a_question_in_reads_each_quote_once(indexed_home):
    grounding, profile, reading = reading_profile(indexed_home)
    g = grounding.ground(profile, [{"role": "user", "content": "How many kilos can the Cargo K1 haul?"}])
    asked = len(reading.asked)
    first, second = grounding.quote_reader(profile, g), grounding.quote_reader(profile, g)  # two choices, one quote
    quote = "Cargo K1: It carries up to 180 kg."
    assert first(quote) and second(quote)
    assert len(reading.asked) == asked + 1
    assert reading.asked[-1] == ("How many kilos can the Cargo K1 haul?", quote, ())
    reading.probability = 0.5
    assert not first("Cargo K1: Price: $3,899.")
    covered = grounding.ground(profile, [{"role": "user", "content": "What does the Cargo K1 cost?"}])
    assert covered.read is None and grounding.quote_reader(profile, covered)("Cargo K1: Price: $3,899.") is False
    profile.retrieval.reader = None  # the words let it in and there is no reader: nothing reads a quote
    assert grounding.quote_reader(profile, covered) is None


def test_each_read_is_told_to_on_read_as_its_prompt_s_tokens(indexed_home):
    grounding, profile, reading = reading_profile(indexed_home)
    charged = []
    g = grounding.ground(profile, [{"role": "user", "content": "How many kilos can the Cargo K1 haul?"}],
                         on_read=charged.append)
    question, text, _ = reading.asked[-1]
    assert charged == [len(question) + len(text)]  # what the reader counted of the evidence's read
    reads = grounding.quote_reader(profile, g)
    reads("Cargo K1: It carries up to 180 kg.")
    reads("Cargo K1: It carries up to 180 kg.")  # read once, charged once
    assert len(charged) == 2 and charged[1] == len(question) + len("Cargo K1: It carries up to 180 kg.")
    grounding.ground(profile, [{"role": "user", "content": "What does the Cargo K1 cost?"}], on_read=charged.append)
    assert len(charged) == 2  # words covered it: no read, nothing charged


def test_contact_details_reach_us_without_stating_a_duration():
    from assistant.grounding import _reaches_us

    assert _reaches_us("Call 0800 123 4567, Mon-Fri 9-5.", "How long are your phone lines open?")
    assert not _reaches_us("Call 0800 123 4567.", "What's your email address?")  # the details asked for


def test_a_reader_not_prepared_yet_names_the_command(indexed_home):
    from tenor.reader import ReaderError, for_profile

    settings = sample_settings(indexed_home)
    profile = settings.profile("larkfield").model_copy(deep=True)
    profile.retrieval.reader = "qwen2.5-coder-1.5b-instruct"
    with pytest.raises(ReaderError, match=r"tenor model prepare --name qwen2\.5-coder-1\.5b-instruct"):
        for_profile(settings, profile)
    profile.retrieval.reader = None
    assert for_profile(settings, profile) is None


def test_a_reader_that_cannot_load_stops_the_server_at_start_not_a_request(indexed_home, fake_vllm, tmp_path):
    from fastapi.testclient import TestClient

    from assistant.app import create_app
    from assistant.engine import Engine
    from tenor.reader import ReaderError

    data = sample_settings(indexed_home).model_dump()
    data["profiles"]["larkfield"]["retrieval"]["reader"] = str(tmp_path)  # no model there
    settings = type(sample_settings(indexed_home)).model_validate(data)
    app = create_app(settings, no_auth=True, engine=Engine(fake_vllm.url))
    with pytest.raises(BaseException):
        with TestClient(app):
            pass
    assert isinstance(app.state.startup_error, ReaderError) and "retrieval.reader" in str(app.state.startup_error)
