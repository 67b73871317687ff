"""The index for real: embedded Chroma, the real embedding model, real files."""

import shutil

import pytest

from ingest import search
from ingest.index import IndexStoreError, open_index
from ingest.pipeline import ingest_file, ingest_paths
from tenor.config import EmbedSettings, Settings
from tests.ingest.files import HTML_PAGE, MARKDOWN_PAGE, make_docx, make_pdf

pytestmark = pytest.mark.integration


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "docs"
    root.mkdir()
    (root / "products.md").write_text(MARKDOWN_PAGE)
    (root / "shipping.html").write_text(HTML_PAGE)
    (root / "battery.txt").write_text("Battery care\n\nStore the battery at 40-60% charge in winter.\n")
    make_pdf(root / "warranty.pdf", ["The frame has a lifetime warranty.", "Claims: email photos of the damage to our claims team."])
    make_docx(root / "service.docx", "Service plans", ["A Basic Tune costs $89."])
    (root / "sub").mkdir()
    (root / "sub" / "hours.md").write_text("# Hours\n\nOpen Monday to Friday, 9 to 6.\n")
    return root


@pytest.fixture
def home_settings(tmp_path):
    return Settings(home=tmp_path / "home")


def snapshot(settings, collection="default"):
    """Every chunk id with its document, hash and text: the index's full state."""
    got = open_index(settings, collection).collection.get(include=["metadatas", "documents"])
    return sorted(
        (cid, m["document_id"], m["content_hash"], doc)
        for cid, m, doc in zip(got["ids"], got["metadatas"], got["documents"])
    )


def test_ingest_then_search_finds_the_right_document(corpus, home_settings):
    summary = ingest_paths(home_settings, [corpus])
    assert (summary.added, summary.failed) == (6, 0)
    ids = {d.document_id for d in open_index(home_settings).list_documents()}
    assert ids == {"products.md", "shipping.html", "battery.txt", "warranty.pdf", "service.docx", "sub/hours.md"}
    top = search("how much does express shipping cost", k=3, settings=home_settings)[0]
    assert top.document_id == "shipping.html"
    assert top.section == "Shipping policy > Rates" and "$149" in top.text
    assert 0 < top.score <= 1
    page = search("where do I email the photos for my claim", k=1, settings=home_settings)[0]
    assert (page.document_id, page.page) == ("warranty.pdf", 2)


def test_reingest_unchanged_docs_are_skipped(corpus, home_settings):
    ingest_paths(home_settings, [corpus])
    before = snapshot(home_settings)
    again = ingest_paths(home_settings, [corpus])
    assert (again.added, again.updated, again.unchanged, again.chunks) == (0, 0, 6, 0)
    assert snapshot(home_settings) == before


def test_changed_doc_has_its_chunks_replaced_and_no_stale_chunk_survives(corpus, home_settings):
    ingest_paths(home_settings, [corpus])
    (corpus / "battery.txt").write_text("Battery care\n\nNever charge below freezing point.\n")
    summary = ingest_paths(home_settings, [corpus])
    assert (summary.updated, summary.unchanged) == (1, 5)
    chunks = open_index(home_settings).document_chunks("battery.txt")
    text = " ".join(c.text for c in chunks)
    assert "freezing" in text and "40-60%" not in text
    hashes = {row[2] for row in snapshot(home_settings) if row[1] == "battery.txt"}
    assert len(hashes) == 1


def test_prune_removes_documents_whose_source_vanished(corpus, home_settings):
    ingest_paths(home_settings, [corpus])
    (corpus / "battery.txt").unlink()
    kept = ingest_paths(home_settings, [corpus])
    assert kept.removed == 0 and open_index(home_settings).get_document("battery.txt") is not None
    pruned = ingest_paths(home_settings, [corpus], prune=True)
    assert pruned.removed == 1
    assert open_index(home_settings).get_document("battery.txt") is None


def test_prune_is_skipped_when_a_given_path_is_missing(corpus, home_settings):
    ingest_paths(home_settings, [corpus])
    summary = ingest_paths(home_settings, [corpus / "sub", corpus / "typo"], prune=True)
    assert summary.removed == 0 and summary.failed == 1
    ids = {d.document_id for d in open_index(home_settings).list_documents()}
    assert {"products.md", "battery.txt", "sub/hours.md", "hours.md"} <= ids  # ids are relative to the path given


def test_a_corrupted_update_keeps_the_previous_version(corpus, home_settings):
    ingest_paths(home_settings, [corpus])
    before = snapshot(home_settings)
    (corpus / "warranty.pdf").write_bytes(b"%PDF-1.4 truncated garbage")
    summary = ingest_paths(home_settings, [corpus])
    assert summary.failed == 1 and "warranty.pdf" in summary.failures[0].path
    assert snapshot(home_settings) == before


def test_interrupted_replacement_converges_on_rerun(corpus, home_settings, monkeypatch):
    """Killed after the new chunks were written but before the stale ones were dropped."""
    ingest_paths(home_settings, [corpus])
    (corpus / "battery.txt").write_text("Battery care\n\nA new text about storage in summer.\n")
    import ingest.index as index_module

    original = index_module.Index.write_document

    def crash_after_upsert(self, *args, **kwargs):
        monkeypatch.setattr(self.collection, "delete", lambda **kw: (_ for _ in ()).throw(KeyboardInterrupt()))
        original(self, *args, **kwargs)

    monkeypatch.setattr(index_module.Index, "write_document", crash_after_upsert)
    with pytest.raises(KeyboardInterrupt):
        ingest_paths(home_settings, [corpus])
    monkeypatch.setattr(index_module.Index, "write_document", original)
    index_module._client.cache_clear()  # a fresh process, as after a crash

    rerun = ingest_paths(home_settings, [corpus])
    assert rerun.updated == 1
    clean = Settings(home=home_settings.home.parent / "clean")
    ingest_paths(clean, [corpus])
    assert [row[:3] for row in snapshot(home_settings)] == [row[:3] for row in snapshot(clean)]


def test_single_file_with_caller_given_id(tmp_path, home_settings):
    path = tmp_path / "upload.md"
    path.write_text("# FAQ\n\nGift cards never expire.\n")
    summary = ingest_file(home_settings, path, document_id="kb/faq")
    assert summary.added == 1
    assert search("do gift cards expire", k=1, settings=home_settings)[0].document_id == "kb/faq"


def test_search_filters_on_metadata(corpus, home_settings):
    ingest_paths(home_settings, [corpus])
    hits = search("warranty", k=5, filters={"document_id": "battery.txt"}, settings=home_settings)
    assert hits and {h.document_id for h in hits} == {"battery.txt"}


def test_collections_are_separate(corpus, home_settings):
    ingest_paths(home_settings, [corpus / "sub"], collection="brand-a")
    assert open_index(home_settings, "brand-b").list_documents() == []
    assert [d.document_id for d in open_index(home_settings, "brand-a").list_documents()] == ["hours.md"]


def test_invalid_collection_name_is_a_clear_error(home_settings):
    with pytest.raises(IndexStoreError, match="invalid collection name"):
        open_index(home_settings, "a b/c")


def test_collection_built_with_another_embedder_is_refused(corpus, home_settings):
    ingest_paths(home_settings, [corpus / "sub"])
    other = home_settings.model_copy(update={"embed": EmbedSettings(model="some/other-model")})
    with pytest.raises(IndexStoreError, match="built with embedding model"):
        open_index(other).count()


def test_chunks_fit_the_embedder_window(tmp_path, home_settings):
    long_doc = tmp_path / "long.txt"
    long_doc.write_text(" ".join(f"Sentence number {i} talks about bikes." for i in range(600)))
    ingest_paths(home_settings, [long_doc])
    index = open_index(home_settings)
    chunks = index.document_chunks("long.txt")
    assert len(chunks) > 5
    assert max(index.embedder.count_tokens(c.text) for c in chunks) <= home_settings.chunk.tokens
