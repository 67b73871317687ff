"""The ONNX embedder (`embed.backend: onnx`) is the same model as sentence-transformers:
same vectors, same chunks, same search results, on the sample company's documents."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ingest.chunking import chunk_document, embedding_text, make_splitter
from ingest.index import open_index
from ingest.loaders import load_file
from ingest.pipeline import discover, ingest_paths
from tenor.config import Settings
from tests.conftest import EXAMPLES, SAMPLE_DOCS

pytestmark = pytest.mark.integration


def _settings(home, backend: str) -> Settings:
    return Settings(home=home, embed={"backend": backend})


@pytest.fixture(scope="module")
def sample_chunks(shared_home) -> list[str]:
    """Every chunk text of the sample documents, as ingest embeds them."""
    from ingest.embedder import get_embedder

    embedder = get_embedder(_settings(shared_home, "sentence-transformers").embed)
    splitter = make_splitter(embedder.tokenizer, Settings().chunk)
    texts = []
    for source in discover([SAMPLE_DOCS])[0]:
        document = load_file(source.path, source.document_id)
        texts += [embedding_text(c, document.title) for c in chunk_document(document, splitter)]
    return texts


def test_onnx_vectors_match_sentence_transformers(shared_home, onnx_embedder_dir, sample_chunks):
    from ingest.embedder import get_embedder

    questions = [json.loads(line)["question"] for line in (EXAMPLES / "questions.jsonl").read_text().splitlines()]
    texts = sample_chunks + questions + ["  padded with spaces  ", "x " * 600]  # the last one is truncated
    reference = get_embedder(_settings(shared_home, "sentence-transformers").embed).encode(texts)
    onnx = get_embedder(_settings(shared_home, "onnx").embed, shared_home / "models")
    assert onnx.folder == onnx_embedder_dir
    vectors = onnx.encode(texts, batch_size=16)  # other batch boundaries than the reference's

    assert vectors.shape == reference.shape == (len(texts), 384)
    cosines = np.sum(vectors * reference, axis=1)
    assert cosines.min() >= 0.999, (cosines.min(), texts[int(cosines.argmin())][:80])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert json.loads((onnx_embedder_dir / "tenor-embedder.json").read_text())["check"]["min_cosine"] >= 0.999


def test_onnx_tokenizer_cuts_the_same_chunks(shared_home, onnx_embedder_dir, sample_chunks):
    """Ingest without transformers: the `tokenizers` counter cuts exactly the chunks the HF tokenizer cuts."""
    from ingest.embedder import get_embedder

    onnx = get_embedder(_settings(shared_home, "onnx").embed, shared_home / "models")
    splitter = make_splitter(onnx.tokenizer, Settings().chunk)
    texts = []
    for source in discover([SAMPLE_DOCS])[0]:
        document = load_file(source.path, source.document_id)
        texts += [embedding_text(c, document.title) for c in chunk_document(document, splitter)]
    assert texts == sample_chunks
    reference = get_embedder(_settings(shared_home, "sentence-transformers").embed)
    for text in sample_chunks[:20]:
        assert onnx.count_tokens(text) == reference.count_tokens(text)


def test_onnx_search_returns_the_same_passages(tmp_path, shared_home, onnx_embedder_dir):
    """A collection written with sentence-transformers answers ONNX queries with the same top 5."""
    home = tmp_path / "home"
    st_settings = _settings(home, "sentence-transformers")
    summary = ingest_paths(st_settings, [SAMPLE_DOCS], collection="larkfield")
    assert summary.failed == 0 and summary.chunks > 50
    onnx_settings = _settings(home, "onnx").model_copy(
        update={"embed": _settings(home, "onnx").embed.model_copy(update={"onnx_path": str(onnx_embedder_dir)})})
    by_st, by_onnx = open_index(st_settings, "larkfield"), open_index(onnx_settings, "larkfield")
    assert type(by_onnx.embedder).__name__ == "OnnxEmbedder"

    questions = [json.loads(line)["question"] for line in (EXAMPLES / "questions.jsonl").read_text().splitlines()]
    for question in questions:
        a, b = by_st.search(question, k=5), by_onnx.search(question, k=5)
        assert [p.chunk_id for p in a] == [p.chunk_id for p in b], question
        assert max(abs(x.score - y.score) for x, y in zip(a, b)) < 2e-3, question


def test_onnx_ingest_writes_what_sentence_transformers_reads(tmp_path, onnx_embedder_dir):
    """The other direction: ingest with the ONNX backend (the light image's `tenor ingest`)."""
    home = tmp_path / "home"
    onnx_settings = Settings(home=home, embed={"backend": "onnx", "onnx_path": str(onnx_embedder_dir)})
    summary = ingest_paths(onnx_settings, [SAMPLE_DOCS], collection="larkfield")
    assert summary.failed == 0 and summary.added == 10
    passages = open_index(Settings(home=home), "larkfield").search("How long is the battery warranty?", k=3)
    assert passages[0].document_id in {"warranty.pdf", "battery-care.txt"}


def test_missing_onnx_export_says_what_to_run(tmp_path):
    from ingest.index import open_index as open_

    index = open_(Settings(home=tmp_path, embed={"backend": "onnx"}), "larkfield")
    with pytest.raises(RuntimeError, match="tenor model export-embedder"):
        index.embedder


def test_export_embedder_cli_reuses_an_up_to_date_export(tmp_path, onnx_embedder_dir):
    import subprocess
    import sys

    env = {"TENOR_EMBED__ONNX_PATH": str(onnx_embedder_dir), "TENOR_HOME": str(tmp_path),
           "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "tenor.cli", "model", "export-embedder", "--json"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["skipped"] is True and body["folder"] == str(onnx_embedder_dir) and body["dimension"] == 384
