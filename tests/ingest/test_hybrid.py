"""Hybrid retrieval: BM25 tokens, rank fusion, and the index that keeps BM25 in step with Chroma."""

import pytest

from ingest.fusion import reciprocal_rank_fusion
from ingest.index import open_index
from ingest.lexical import LexicalIndex, tokenize
from ingest.models import Chunk
from tenor.config import Settings


# -- tokens ---------------------------------------------------------------------------
def test_tokens_keep_prices_part_numbers_and_codes_whole():
    tokens = tokenize("The Cargo K1 costs $3,899. Error E-42: see v2.1 or mail Help@Shop.example")
    assert {"k1", "3899", "e-42", "e42", "v2.1", "help@shop.example"} <= set(tokens)
    assert {"e", "42", "help", "shop", "example"} <= set(tokens)  # the parts match too
    assert "$3,899" not in tokens and "3" not in tokens  # grouping is not a separator
    assert "The" not in tokens and "the" in tokens


def test_tokens_are_language_neutral():
    assert tokenize("ÉCOLE Straße") == ["école", "strasse"]
    assert tokenize("電池の保証") == ["電", "池", "の", "保", "証"]
    assert tokenize("CHF 1'234.50") == ["chf", "1234.50", "1234", "50", "123450"]


# -- fusion ---------------------------------------------------------------------------
def test_rrf_sums_reciprocal_ranks_on_a_hand_made_case():
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "b"]], k=60)
    assert [item for item, _ in fused] == ["c", "b", "a"]  # 1/63 + 1/61 > 2/62 > 1/61
    assert dict(fused) == pytest.approx({"a": 1 / 61, "b": 2 / 62, "c": 1 / 63 + 1 / 61})


def test_rrf_tie_keeps_the_first_ranking_order():
    assert [item for item, _ in reciprocal_rank_fusion([["a", "b"], ["b", "a"]])] == ["a", "b"]


# -- the BM25 index -------------------------------------------------------------------------
def test_bm25_ranks_the_exact_code_first_and_scores_unmatched_chunks_zero():
    texts = ["Error E-42: the battery is not detected.", "Error E-43: the battery is too cold.",
             "Opening hours: Monday to Friday."]
    index = LexicalIndex(["a", "b", "c"], [tokenize(t) for t in texts])
    scores = index.scores("what does e42 mean")
    assert [chunk_id for chunk_id, _ in index.top(scores, 3)] == ["a"]
    battery = index.scores("battery")
    assert index.top(battery, 3, allowed={"b", "c"}) == [("b", pytest.approx(battery[1]))]
    assert not index.scores("nothing matches").any()


def test_terms_in_most_chunks_are_ignored_once_the_collection_is_large_enough():
    texts = [f"bike model {i} has a frame" for i in range(30)] + ["the bike K9 is red"]
    index = LexicalIndex([str(i) for i in range(31)], [tokenize(t) for t in texts])
    assert not index.scores("bike frame has").any()  # every chunk has them: no signal
    assert index.top(index.scores("bike K9"), 1)[0][0] == "30"


def test_an_empty_index_scores_nothing():
    assert LexicalIndex([], []).scores("anything").size == 0


def test_an_unknown_search_mode_is_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match="'bm25'"):
        open_index(Settings(home=tmp_path / "home"), "parts").search("x", mode="bm25")


# -- against the real index (embedded Chroma, the real embedder) -----------------------------
PARTS = {  # near-identical part numbers: the embedder cannot tell them apart, BM25 can
    "48213": "rear rack bolt kit, stainless, four bolts", "48231": "front rack bolt kit, stainless, four bolts",
    "48312": "rear rack mounting plate", "84213": "kickstand bolt kit", "48123": "mudguard bolt kit, stainless",
    "41823": "bottle cage bolt kit, stainless", "42813": "rack strap set",
}
QUESTION = "Do you have part number 48213 in stock?"


def write(index, document_id: str, text: str) -> None:
    index.write_document(document_id, document_id, document_id, "test", [Chunk(text)],
                         index.embedder.encode([text]))


@pytest.fixture
def parts_index(tmp_path):
    index = open_index(Settings(home=tmp_path / "home"), "parts")
    for number, what in PARTS.items():
        write(index, f"{number}.md", f"Part number {number}: {what}. Fits every Larkfield frame.")
    return index


@pytest.mark.integration
def test_hybrid_ranks_an_exact_part_number_first_where_dense_misses_it(parts_index):
    dense = parts_index.search(QUESTION, k=3, mode="dense")
    hybrid = parts_index.search(QUESTION, k=3, mode="hybrid")
    assert dense[0].document_id != "48213.md"  # what this test is about: dense alone misses it
    assert hybrid[0].document_id == "48213.md"


@pytest.mark.integration
def test_hybrid_passages_carry_dense_bm25_and_fused_scores(parts_index):
    dense = {p.chunk_id: p.score for p in parts_index.search(QUESTION, k=len(PARTS), mode="dense")}
    hybrid = parts_index.search(QUESTION, k=len(PARTS))
    assert len(hybrid) == len(PARTS)
    fused = [p.fused_score for p in hybrid]
    assert fused == sorted(fused, reverse=True) and all(f > 0 for f in fused)
    for p in hybrid:
        assert p.score == p.dense_score == pytest.approx(dense[p.chunk_id], abs=1e-4)
        assert p.lexical_score >= 0
    assert hybrid[0].lexical_score > max(p.lexical_score for p in hybrid[1:])


@pytest.mark.integration
def test_hybrid_search_honours_metadata_filters(parts_index):
    hits = parts_index.search(QUESTION, k=3, filters={"document_id": "48231.md"})
    assert [p.document_id for p in hits] == ["48231.md"]


@pytest.mark.integration
def test_bm25_follows_writes_made_through_another_index(parts_index):
    """A second Index on the same collection stands for another process or replica."""
    assert parts_index.search("E-42", k=1)[0].lexical_score == 0  # builds the BM25 index
    writer = open_index(parts_index.settings, "parts")
    write(writer, "codes.md", "Display code E-42: the battery is not detected.")
    top = parts_index.search("E-42", k=1)[0]
    assert (top.document_id, top.lexical_score > 0) == ("codes.md", True)
    writer.delete_document("codes.md")
    assert "codes.md" not in {p.document_id for p in parts_index.search("E-42", k=len(PARTS))}


def test_the_index_knows_which_words_the_chunks_mention_in_any_stemmed_form():
    index = LexicalIndex(["a", "b"], [tokenize(t) for t in ("The Cargo K1 carries 180 kg.",
                                                              "Fast chargers: $89. Free WiFi and e-bike parking.")])
    assert index.mentions("K1") and index.mentions("Cargo") and index.mentions("charger")
    assert index.mentions("Wi-Fi") and index.mentions("ebike") and index.mentions("E-Bike")
    assert not index.mentions("Europe") and not index.mentions("K2") and not index.mentions("K-2")
    assert LexicalIndex([], []).mentions("anything") is False
