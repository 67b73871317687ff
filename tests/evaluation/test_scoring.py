"""Scoring, gating and reporting of `tenor eval`, on hand-made answers (no server)."""

import json

import pytest

from evaluation import metrics, report
from evaluation.cli import gate
from evaluation.runner import (Configuration, EvalError, Record, Reply, answer_all, configurations,
                               load_question_set, records_as_dicts, score, summarise)
from tenor.config import Profile, VoiceRules

PROFILE = Profile(
    name="brand", adapter="voice", no_answer="Hey rider! Our docs don't cover that one.",
    voice=VoiceRules(required=["Hey rider!"], forbidden=["unfortunately"], max_words=40),
)
ITEMS = [
    {"id": "price", "question": "How much is the C2?", "patterns": [r"2,?499"], "source": "products.md"},
    {"id": "hours", "question": "When do you open?", "expected": "We open at ten on Saturday.", "source": "store.md"},
    {"id": "kids", "question": "Kids' bikes?", "unanswerable": True},
]


def test_patterns_must_all_match_and_f1_scores_items_without_patterns():
    assert metrics.correctness(ITEMS[0], "It costs $2,499 [1].") == 1.0
    assert metrics.correctness(ITEMS[0], "It costs $2,999.") == 0.0
    assert metrics.correctness(ITEMS[1], "We open at ten on Saturday.") == 1.0
    assert 0 < metrics.correctness(ITEMS[1], "On Saturday we open at ten.") <= 1.0
    assert metrics.correctness(ITEMS[1], "No idea.") == 0.0


def test_cited_documents_follow_the_markers_in_the_text():
    citations = [{"index": 1, "document_id": "a.md"}, {"index": 2, "document_id": "b.md"}]
    assert metrics.cited_documents("Yes [2], see also [1] and [2].", citations) == ["b.md", "a.md"]
    assert metrics.cited_documents("No markers here.", citations) == []
    assert metrics.cited_documents("Bogus [7].", citations) == []


def test_summary_counts_refusals_false_refusals_voice_and_citations():
    configs = configurations("brand", "brand-base")[2:]  # adapter, adapter+retrieval
    cite = [{"index": 1, "document_id": "products.md"}]
    records = [
        Record("price", "adapter", "", "Hey rider! It costs $2,499."),
        Record("hours", "adapter", "", "Hey rider! Our docs don't cover that one."),  # a false refusal
        Record("kids", "adapter", "", "Hey rider! We sell kids' bikes, unfortunately not many."),
        Record("price", "adapter+retrieval", "", "Hey rider! It costs $2,499 [1].", cite),
        Record("hours", "adapter+retrieval", "", "We open at ten on Saturday [1].", cite),
        Record("kids", "adapter+retrieval", "", "Hey rider! Our docs don't cover that one."),
    ]
    for r in records:
        r.latency_s = 1.0
    score(records, ITEMS, PROFILE)
    summary = summarise(records, ITEMS, configs, {"recall@1": 0.5, "recall@5": 1.0})

    plain, grounded = summary["adapter"], summary["adapter+retrieval"]
    assert plain["refusal_rate"] == 0.0 and plain["false_refusal_rate"] == 0.5
    assert plain["voice_adherence"] == pytest.approx(2 / 3)  # "unfortunately" is forbidden
    assert plain["citation_correctness"] is None and plain["recall@5"] is None
    assert grounded["refusal_rate"] == 1.0 and grounded["false_refusal_rate"] == 0.0
    assert grounded["correctness"] == 1.0
    assert grounded["citation_correctness"] == 0.5  # the hours answer cites products.md
    assert grounded["voice_adherence"] == pytest.approx(2 / 3)
    assert grounded["recall@5"] == 1.0

    assert gate(summary, {"min_voice": 0.8, "max_false_refusal": 0.1, "min_refusal": None}) == [
        "voice_adherence = 0.667, below --min-voice 0.8"]
    assert gate(summary, {"min_correctness": 0.9, "max_false_refusal": 0.1}) == []


def test_a_failed_request_is_counted_not_fatal():
    class Flaky:
        def chat(self, profile, messages, retrieval, max_tokens, seed, adapter=None):
            if retrieval:
                raise ConnectionError("vLLM went away")
            return Reply("Hey rider! $2,499", [], 0.5, 0.1, None)

    configs = [Configuration("adapter", "brand", False), Configuration("adapter+retrieval", "brand", True)]
    records = answer_all(Flaky(), ITEMS[:1], configs, concurrency=2)
    score(records, ITEMS, PROFILE)
    summary = summarise(records, ITEMS, configs, None)
    assert summary["adapter"]["errors"] == 0 and summary["adapter"]["correctness"] == 1.0
    assert summary["adapter+retrieval"]["errors"] == 1
    assert "vLLM went away" in records[1].error


def test_the_report_says_how_answers_shipped_and_who_refused_answerable_questions(tmp_path):
    """The server's ``answer_outcome`` tells a model that declined from the server's no-answer
    (retrieval gate or answer check) and from a quoted extract."""
    no_answer = PROFILE.no_answer
    replies = {"How much is the C2?": Reply(no_answer, [], 1.0, 0.1, "no_answer"),  # refused by the server
               "When do you open?": Reply(no_answer, [], 1.0, 0.1, "refused"),  # by the model
               "Kids' bikes?": Reply("Hey rider! \u201cWe open at ten.\u201d [1]", [], 1.0, 0.1, "extract")}

    class Server:
        def chat(self, profile, messages, retrieval, max_tokens, seed, adapter=None):
            return replies[messages[-1]["content"]]

    configs = configurations("brand", None, served_only=True)
    records = answer_all(Server(), ITEMS, configs, concurrency=1)
    assert [r.outcome for r in records] == ["no_answer", "refused", "extract"]
    score(records, ITEMS, PROFILE)
    row = summarise(records, ITEMS, configs, None)["adapter+retrieval"]
    assert row["outcomes"] == {"no_answer": 1, "refused": 1, "extract": 1}
    assert row["false_refusals_by"] == {"server": 1, "model": 1}
    # an extract that reads as a refusal, and a failed request (a false refusal too), have their own counts
    replies["How much is the C2?"] = Reply(f"Hey rider! \u201c{no_answer}\u201d [1]", [], 1.0, 0.1, "extract")
    del replies["When do you open?"]
    other = answer_all(Server(), ITEMS, configs, concurrency=1)
    score(other, ITEMS, PROFILE)
    assert summarise(other, ITEMS, configs, None)["adapter+retrieval"]["false_refusals_by"] == {
        "extract": 1, "error": 1}
    meta = {"profile": "brand", "question_set": "q.jsonl", "questions": 3, "unanswerable": 1, "url": "http://x",
            "concurrency": 1, "date": "today"}
    report.write(tmp_path, {"adapter+retrieval": row}, meta, records_as_dicts(records), None, None)
    md = (tmp_path / "report.md").read_text()
    assert "False refusals (adapter+retrieval): 1 by the model, 1 by the server." in md
    assert "Answer policy (adapter+retrieval): 1 no_answer, 1 refused, 1 extract" in md
    assert '`{"outcome": "refused", "refused": true' in md


def test_a_failed_request_counts_against_every_rate_and_fails_the_gate():
    class Flaky:
        def chat(self, profile, messages, retrieval, max_tokens, seed, adapter=None):
            if messages[-1]["content"] != ITEMS[0]["question"]:
                raise ConnectionError("vLLM went away")
            return Reply("Hey rider! It costs $2,499 [1].", [{"index": 1, "document_id": "products.md"}], 0.5, 0.1,
                         "shipped")

    configs = [Configuration("adapter+retrieval", "brand", True)]
    records = answer_all(Flaky(), ITEMS, configs, concurrency=1)
    score(records, ITEMS, PROFILE)
    row = summarise(records, ITEMS, configs, None)["adapter+retrieval"]
    assert (row["answers"], row["errors"]) == (3, 2)
    assert row["correctness"] == 0.5  # the failed "hours" is a wrong answer, not a missing one
    assert row["citation_correctness"] == 0.5
    assert row["refusal_rate"] == 0.0  # the failed "kids" did not refuse
    assert row["false_refusal_rate"] == 0.5  # an answerable question left unanswered
    assert row["voice_adherence"] == pytest.approx(1 / 3)
    assert row["latency_p50_s"] == 0.5  # latencies: only answers that came back

    assert gate({"adapter+retrieval": row}, {"max_errors": 0}) == [
        "errors = 2 (adapter+retrieval 2), above --max-errors 0"]
    assert gate({"adapter+retrieval": row}, {"max_errors": 2, "min_correctness": 0.5}) == []


def test_wrong_answers_are_those_answered_and_not_right_and_can_gate_the_eval():
    """Correct, refused (or failed) and answered wrongly make up every answerable question: a
    wrong answer shipped is what the customer is misled by, so it is counted apart and gated."""
    configs = [Configuration("adapter+retrieval", "brand", True)]
    cite = [{"index": 1, "document_id": "products.md"}]
    answers = {"price": "Hey rider! It costs $99 [1].", "hours": "Hey rider! Our docs don't cover that one.",
               "kids": "Hey rider! Our docs don't cover that one."}
    records = [Record(i["id"], "adapter+retrieval", "", answers[i["id"]], cite) for i in ITEMS]
    score(records, ITEMS, PROFILE)
    row = summarise(records, ITEMS, configs, None)["adapter+retrieval"]
    assert (row["correctness"], row["false_refusal_rate"], row["wrong_answer_rate"]) == (0.0, 0.5, 0.5)
    assert gate({"adapter+retrieval": row}, {"max_wrong": 0.1}) == [
        "wrong_answer_rate = 0.5, above --max-wrong 0.1"]
    records[0].answer = "Hey rider! It costs $2,499 [1]."  # right: nothing answered wrongly
    records[1].error = "vLLM went away"  # a failed request is a false refusal, not a wrong answer
    score(records, ITEMS, PROFILE)
    row = summarise(records, ITEMS, configs, None)["adapter+retrieval"]
    assert (row["correctness"], row["false_refusal_rate"], row["wrong_answer_rate"]) == (0.5, 0.5, 0.0)
    assert gate({"adapter+retrieval": row}, {"max_wrong": 0.0}) == []


def test_max_errors_counts_every_configuration_not_only_the_headline():
    summary = {"base": {"errors": 1, "correctness": 0.0}, "adapter+retrieval": {"errors": 0, "correctness": 1.0}}
    assert gate(summary, {"max_errors": 0}) == ["errors = 1 (base 1), above --max-errors 0"]
    assert gate(summary, {"max_errors": None, "min_correctness": 0.9}) == []


def test_eval_gates_on_errors_by_default():
    import inspect

    from evaluation.cli import run_eval

    assert inspect.signature(run_eval).parameters["max_errors"].default.default == 0


def test_question_set_errors_name_the_line(tmp_path):
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"question": "ok"}\n{"question": "x", "patterns": ["("]}\n')
    with pytest.raises(EvalError, match=r"q.jsonl:2: bad pattern"):
        load_question_set(bad)
    bad.write_text('{"question": "ok"}\n\n{not json\n')
    with pytest.raises(EvalError, match=r"q.jsonl:3: not valid JSON"):
        load_question_set(bad)
    bad.write_text('{"expected": "no question"}\n')
    with pytest.raises(EvalError, match=r"q.jsonl:1: each line needs a non-empty 'question'"):
        load_question_set(bad)


def test_sample_question_sets_have_every_kind_of_question():
    from tests.conftest import EXAMPLES

    full = load_question_set(EXAMPLES / "eval" / "questions.jsonl")
    assert len(full) >= 30
    assert sum(1 for i in full if i.get("unanswerable")) >= 5
    assert sum(1 for i in full if i.get("history")) >= 3
    ci = load_question_set(EXAMPLES / "eval" / "questions-ci.jsonl")
    assert {i["id"] for i in ci} <= {i["id"] for i in full}


def test_report_writes_json_markdown_and_charts(tmp_path):
    summary = {name: {"correctness": 0.5, "voice_adherence": 0.9, "latency_p50_s": 1.0, "errors": 0}
               for name in ("base", "base+retrieval", "adapter", "adapter+retrieval")}
    meta = {"profile": "brand", "base_profile": "brand-base", "question_set": "q.jsonl", "questions": 3,
            "unanswerable": 1, "url": "http://x", "concurrency": 4, "date": "today"}
    records = [{"id": "price", "configuration": "adapter+retrieval", "question": "How much?",
                "answer": "$2,499", "error": None, "scores": {"correct": 1.0}}]
    files = report.write(tmp_path, summary, meta, records, ["voice below"], None)
    assert json.loads((tmp_path / "report.json").read_text())["summary"]["adapter"]["correctness"] == 0.5
    md = (tmp_path / "report.md").read_text()
    assert "| adapter+retrieval | 50% |" in md and "FAILED: voice below" in md and "![quality](quality.png)" in md
    for chart in files["charts"]:
        assert open(chart, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_served_only_is_the_served_configuration_alone_and_the_gate_reads_it():
    configs = configurations("brand", None, served_only=True)
    assert configs == [Configuration("adapter+retrieval", "brand", True)]
    records = [Record("price", "adapter+retrieval", "", "It costs $2,499.")]
    score(records, ITEMS, PROFILE)
    summary = summarise(records, ITEMS, configs, None)
    assert gate(summary, {"min_correctness": 1.0}) == []


def test_base_only_runs_and_gates_the_base_configurations():
    configs = configurations("brand", "brand", base_only=True)
    assert [c.name for c in configs] == ["base", "base+retrieval"]
    records = [Record("price", c.name, "", "It costs $2,499.") for c in configs]
    score(records, ITEMS, PROFILE)
    summary = summarise(records, ITEMS, configs, None)
    assert gate(summary, {"min_correctness": 1.0}) == []
    assert gate(summary, {"min_voice": 0.5}) == ["voice_adherence = 0.0, below --min-voice 0.5"]


@pytest.mark.parametrize("answer, refused", [
    ("Hey rider! Our docs don't cover that one.", True),
    ("The documents do not mention a racing team.", True),
    ("The stock price of Larkfield Cycles is not provided in the given information.", True),
    ("That is not mentioned in the passages.", True),
    ("The price is not included in the box.", False),
    ("Shipping is not available in Europe.", False),
    ("No. We do not sell kids' bikes.", False),
])
def test_refusals_are_recognised_in_their_usual_wordings(answer, refused):
    assert metrics.is_refusal(answer, PROFILE.no_answer) is refused


def test_recall_is_measured_with_the_profiles_mode_and_with_dense_alone():
    from evaluation.runner import measure_recall

    class Client:  # the server: hybrid finds the price's source first, dense ranks it second
        def retrieve(self, profile, messages, k, mode=None):
            first = ["store.md", "products.md"] if mode == "dense" else ["products.md", "store.md"]
            return [{"document_id": d} for d in first][:k]

    recall = measure_recall(Client(), "brand", ITEMS)
    assert (recall["recall@1"], recall["dense_recall@1"]) == (0.5, 0.5)  # hours: store.md
    assert recall["dense_recall@5"] == recall["recall@5"] == 1.0
    price_only = measure_recall(Client(), "brand", ITEMS[:1])
    assert (price_only["recall@1"], price_only["dense_recall@1"]) == (1.0, 0.0)
    summary = summarise([], ITEMS, configurations("brand", "base"), price_only)
    assert summary["adapter+retrieval"]["dense_recall@1"] == 0.0
    assert "recall@1 dense" in [title for _, title, _ in report.COLUMNS]


def test_unsupported_figures_are_those_no_cited_passage_contains():
    citations = [{"index": 1, "document_id": "products.md", "text": "| Cargo K1 | $3,899 | 34 kg |"},
                 {"index": 2, "document_id": "store.md", "text": "Call +1 (555) 010-2030 or help@lark.example."}]
    assert metrics.unsupported_figures("The Cargo K1 costs $3,899 and weighs 34 kg [1].", citations) == []
    assert metrics.unsupported_figures("The Cargo K1 costs $3,249 [1].", citations) == ["n:3249"]
    # right figure, but cited from the wrong passage (or not cited at all)
    assert metrics.unsupported_figures("The Cargo K1 costs $3,899 [2].", citations) == ["n:3899"]
    assert metrics.unsupported_figures("Write to help@lark.example.", citations) == ["email:help@lark.example"]
    assert metrics.unsupported_figures("Write to help@lark.example or call 555-010-2030 [2].", citations) == []
    # a quote names its topic, the passage's heading: its figures are the document's too
    cover = [{"index": 1, "section": "OPTION 1: GOODS COVER", "text": "You pay the first £100 of any loss."}]
    quote = "\u201cOPTION 1: GOODS COVER: You pay the first £100 of any loss.\u201d [1]"
    assert metrics.unsupported_figures(quote, cover) == []
    assert metrics.unsupported_figures(quote.replace("OPTION 1", "OPTION 2"), cover) == ["n:2"]


def test_summary_counts_unsupported_figures_answered_citations_and_loops():
    configs = [Configuration("adapter+retrieval", "brand", True)]
    cite = [{"index": 1, "document_id": "products.md", "text": "The C2 costs $2,499."}]
    records = [
        Record("price", "adapter+retrieval", "", "Hey rider! It costs $2,999 [1].", cite),  # invented price
        Record("hours", "adapter+retrieval", "", "Hey rider! Our docs don't cover that one."),  # refused
        Record("kids", "adapter+retrieval", "", "Hey rider! Ride on! Ride on! Ride on! Ride on!"),
    ]
    score(records, ITEMS, PROFILE)
    row = summarise(records, ITEMS, configs, None)["adapter+retrieval"]
    assert row["unsupported_figures"] == 1
    assert row["answered_cited"] == 1.0 and row["citation_correctness"] == 0.5  # the refusal cites nothing
    assert row["loop_rate"] == pytest.approx(1 / 3)


def test_report_draws_the_abstention_trade_off(tmp_path):
    from evaluation.calibrate import Signals, abstention_report

    signals = [Signals("a", False, 0.6, 0.9, {0.3: 0.9}), Signals("b", True, 0.5, 0.2, {0.3: 0.2}),
               Signals("c", True, 0.2, 0.8, {0.3: 0.8})]
    abstention = abstention_report(signals, Profile())
    assert abstention["current"] == {"min_score": 0.3, "min_coverage": 0.55, "min_similarity": 0.65,
                                     "refusal": 1.0, "false_refusal": 0.0}
    curve = {r["min_coverage"]: (r["refusal"], r["false_refusal"]) for r in abstention["curve"]}
    assert curve[0.0] == (0.5, 0.0) and curve[0.8] == (1.0, 0.0)
    summary = {"adapter+retrieval": {"correctness": 0.5, "latency_p50_s": 1.0, "errors": 0}}
    meta = {"profile": "brand", "base_profile": "brand-base", "question_set": "q.jsonl", "questions": 3,
            "unanswerable": 2, "url": "http://x", "concurrency": 4, "date": "today"}
    files = report.write(tmp_path, summary, meta, [], None, None, abstention)
    assert str(tmp_path / "abstention.png") in files["charts"]
    assert "![abstention](abstention.png)" in (tmp_path / "report.md").read_text()
    assert json.loads((tmp_path / "report.json").read_text())["abstention"]["current"]["refusal"] == 1.0


def test_calibration_lets_a_question_in_by_meaning_and_chooses_the_similarity_that_does():
    from evaluation.calibrate import Signals, choose, rates, refuses

    # "b" says what it asks in other words (coverage 0.1, similarity 0.8); "u" is unanswerable, close-ish (0.6)
    b = Signals("b", False, 0.6, 0.1, {s: 0.1 for s in (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)},
                similarities={s: 0.8 for s in (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)})
    u = Signals("u", True, 0.6, 0.1, {s: 0.1 for s in (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)},
                similarities={s: 0.6 for s in (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)})
    assert refuses(b, 0.3, 0.55) and not refuses(b, 0.3, 0.55, min_similarity=0.75)
    assert rates([b, u], 0.3, 0.55, 0.75) == (1.0, 0.0) and rates([b, u], 0.3, 0.55, 0.5) == (0.0, 0.0)
    best = choose([b, u])
    assert 0.6 < best["min_similarity"] <= 0.8 and (best["refusal"], best["false_refusal"]) == (1.0, 0.0)


def test_calibration_draws_the_readers_trade_off_and_chooses_its_threshold():
    from evaluation.calibrate import Signals, choose_reader, reader_rates, reader_tradeoff

    rules = Profile().retrieval.model_copy(update={"reader": "a-reader"})
    grid = {s: 0.1 for s in (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)}

    def read(qid, unanswerable, p):  # short on words and meaning: the reader decides
        return Signals(qid, unanswerable, 0.6, 0.1, dict(grid), similarities=dict(grid), read=p)
    covered = Signals("w", False, 0.6, 0.9, {s: 0.9 for s in grid})  # its words let it in, never read
    nothing = Signals("n", True, 0.1, 0.0, {s: 0.0 for s in grid})  # no passage above min_score: never read
    signals = [read("a", False, 0.76), read("b", False, 0.9), read("u", True, 0.71), covered, nothing]
    assert reader_rates(signals, rules, 0.8) == (1.0, 1 / 3)  # "a" refused at the default
    assert reader_rates(signals, rules, 0.7) == (0.5, 0.0)  # "u" let in
    curve = {row["reader_threshold"]: (row["refusal"], row["false_refusal"]) for row in reader_tradeoff(signals, rules)}
    assert curve[0.75] == (1.0, 0.0) and curve[0.95] == (1.0, 2 / 3)
    assert choose_reader(signals, rules)["reader_threshold"] == 0.75  # every unanswerable refused, "a" let in


def test_calibrate_selects_the_evidence_with_the_profiles_tokenizer_as_the_server_does(tmp_path, monkeypatch):
    from evaluation.calibrate import local_signals
    from ingest.pipeline import ingest_paths
    from tenor import tokens
    from tenor.prompt import APPROX, TokenMeter
    from tests.assistant.conftest import sample_settings

    settings = sample_settings(tmp_path / "home")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "battery.md").write_text("# Battery care\n\nCharge the battery indoors. Store the battery half full. "
                                     "Clean the battery contacts with a dry cloth.\n")
    assert ingest_paths(settings, [docs], "larkfield").failed == 0
    profile = settings.profile(None)
    question = [{"id": "q", "question": "How do I charge, store and clean the battery?"}]
    counted = []

    def meter(count):
        def profile_meter(settings_, profile_):
            counted.append(profile_.base_model)
            return count
        return profile_meter
    monkeypatch.setattr(tokens, "profile_meter", meter(APPROX))
    everything = local_signals(settings, profile, question)[0].coverage  # 256 estimated tokens hold all three
    monkeypatch.setattr(tokens, "profile_meter", meter(TokenMeter(count=lambda text: 200)))  # only one fits
    one_sentence = local_signals(settings, profile, question)[0].coverage
    assert counted == [profile.base_model] * 2 and one_sentence < everything


def test_calibrate_chooses_no_reader_threshold_from_too_few_unanswerable_questions(capsys):
    from evaluation.calibrate import FEW_UNANSWERABLE, Signals, _report_reader

    rules = Profile().retrieval.model_copy(update={"reader": "a-reader"})
    grid = {s: 0.1 for s in (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)}

    def read(qid, unanswerable, p):
        return Signals(qid, unanswerable, 0.6, 0.1, dict(grid), similarities=dict(grid), read=p)
    answerable = [read("a", False, 0.76), read("b", False, 0.9)]
    few = [read(f"u{i}", True, 0.5) for i in range(FEW_UNANSWERABLE - 1)]
    _report_reader(answerable + few, answerable + few, answerable, rules)
    assert "too few to choose" in capsys.readouterr().out
    enough = few + [read("u", True, 0.71)]
    _report_reader(answerable + enough, answerable + enough, answerable, rules)
    assert "chosen on the tuning half: reader_threshold 0.75" in capsys.readouterr().out


def test_calibrate_searches_in_the_profiles_mode_as_the_server_does(tmp_path, monkeypatch):
    import ingest.embedder
    import ingest.index
    from evaluation.calibrate import local_signals
    from tests.assistant.conftest import sample_settings

    modes = []

    class Index:
        embedder = None

        def search(self, query, k=4, filters=None, mode="hybrid"):
            modes.append(mode)
            return []

        def unmentioned(self, names):
            return []

        def headings(self):
            return frozenset()
    monkeypatch.setattr(ingest.index, "open_index", lambda settings, collection: Index())
    monkeypatch.setattr(ingest.embedder, "closeness", lambda embedder, queries: lambda texts: [0.0] * len(texts))
    settings = sample_settings(tmp_path)
    profile = settings.profile(None)
    dense = profile.model_copy(update={"retrieval": profile.retrieval.model_copy(update={"mode": "dense"})})
    local_signals(settings, dense, [{"id": "q", "question": "How long is the warranty?"}])
    assert modes == ["dense"]


def test_calibrate_reads_the_evidence_the_server_reads_on_a_words_only_profile():
    from evaluation.calibrate import measure
    from tests.test_evidence import P

    passages = [P("The frame is guaranteed for life. Motors are covered for two years.", "warranty.md")]
    passages[0].score = 0.6
    read = []
    words_only = Profile().model_copy(update={"retrieval": Profile().retrieval.model_copy(
        update={"reader": "a-reader", "min_similarity": 2.0, "min_coverage": 0.9, "evidence_tokens": 12})})
    # by meaning, "Motors are covered..." is the closest; by words, only the frame shares a term
    def closeness_to(queries):
        return lambda texts: [0.9 if "Motors" in t else 0.0 for t in texts]
    measure([{"id": "q", "question": "How long is my frame covered, and what about the battery?"}],
            lambda item, k: passages, words_only, closeness_to=closeness_to,
            reads=lambda turns, evidence: read.append(" ".join(e.text for e in evidence)) or 0.5)
    assert read == ["The frame is guaranteed for life."]


def test_calibrate_gives_a_refused_question_the_servers_second_chance_on_the_dense_passages():
    from evaluation.calibrate import measure, reader_rates
    from tests.test_evidence import P

    hybrid = [P("Boxes arrive between 8am and 6pm on your delivery day.", "delivery.md")]
    dense = [hybrid[0], P("Our insulated boxes keep food chilled for 24 hours.", "packaging.md")]
    question = [{"id": "q", "question": "How long will the food stay cold on the doorstep?"}]
    read = []

    def reads(turns, evidence):
        read.append([e.text for e in evidence])
        return 0.9 if "chilled" in evidence[0].text else 0.5

    def signals(found=dense, **retrieval):
        profile = Profile().model_copy(update={"retrieval": Profile().retrieval.model_copy(
            update={"reader": "a-reader", "min_similarity": 2.0, **retrieval})})
        read.clear()
        return measure(question, lambda item, k: hybrid, profile, reads=reads,
                       dense=lambda item, k: found[:k])[0], profile.retrieval

    s, rules = signals()
    assert (s.read, s.read_again, s.best_read()) == (0.5, 0.9, 0.9)
    assert read == [[hybrid[0].text], [dense[1].text]]  # the dense passage not among the hybrid ones, alone
    assert reader_rates([s], rules, 0.8) == (None, 0.0)  # let in at 0.8, as the server does
    assert reader_rates([s], rules, 0.95) == (None, 1.0)
    s, rules = signals(dense_k=0)  # no second chance: refused at 0.8
    assert (s.read_again, read) == (None, [[hybrid[0].text]]) and reader_rates([s], rules, 0.8) == (None, 1.0)
    assert signals(mode="dense")[0].read_again is None
    worded = [hybrid[0], P("Food left on the doorstep stays cold for 24 hours.", "packaging.md")]
    s, rules = signals(worded)  # the dense passage's words let it in: nothing read, in at any threshold
    assert (s.admitted_again, s.read_again, read) == (True, None, [[hybrid[0].text]])
    assert reader_rates([s], rules, 0.95) == (None, 0.0) and not signals()[0].admitted_again
