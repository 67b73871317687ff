"""The CLI as a user or a script drives it: `tenor ingest/search/docs` with --json."""

import json

import pytest
from typer.testing import CliRunner

from tenor.cli import app
from tests.conftest import SAMPLE_DOCS

pytestmark = pytest.mark.integration
runner = CliRunner()


def tenor(*args):
    result = runner.invoke(app, list(args))
    return result


def test_ingest_json_summary_then_search_json_passages(tenor_home, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.txt").write_text("")
    result = tenor("ingest", str(SAMPLE_DOCS), str(bad), "--collection", "larkfield", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["added"] == 10 and summary["failed"] == 1 and summary["chunks"] > 10
    assert set(summary) >= {"added", "updated", "unchanged", "removed", "failed", "chunks", "seconds", "failures"}
    assert summary["failures"][0]["reason"] == "empty file"

    result = tenor("search", "What are the store opening hours on Saturday?", "-k", "3", "-c", "larkfield", "--json")
    passages = json.loads(result.stdout)
    assert len(passages) == 3
    assert set(passages[0]) >= {"text", "score", "document_id", "source", "section", "page",
                                "dense_score", "lexical_score", "fused_score"}
    assert passages[0]["document_id"] == "store-and-contact.md"
    assert passages[0]["fused_score"] >= passages[1]["fused_score"] >= passages[2]["fused_score"]

    result = tenor("search", "What are the store opening hours on Saturday?", "-k", "3", "-c", "larkfield")
    assert result.exit_code == 0 and "dense 0." in result.stdout and "bm25 " in result.stdout
    dense = json.loads(tenor("search", "opening hours", "-c", "larkfield", "--mode", "dense", "--json").stdout)
    assert dense[0]["score"] >= dense[1]["score"] and dense[0]["lexical_score"] is None
    assert tenor("search", "x", "--mode", "bm25").exit_code == 1


def test_strict_exits_nonzero_when_a_file_failed(tenor_home, tmp_path):
    (tmp_path / "x.bin").write_bytes(b"\x00\x01")
    assert tenor("ingest", str(tmp_path / "x.bin"), "--strict").exit_code == 1


def test_docs_list_and_delete(tenor_home):
    tenor("ingest", str(SAMPLE_DOCS / "products.md"), str(SAMPLE_DOCS / "battery-care.txt"))
    listed = json.loads(tenor("docs", "list", "--json").stdout)
    assert [d["document_id"] for d in listed] == ["battery-care.txt", "products.md"]
    result = tenor("docs", "delete", "products.md", "--json")
    assert json.loads(result.stdout) == {"deleted": ["products.md"], "not_found": []}
    assert tenor("docs", "delete", "nope.md").exit_code == 1
    assert [d["document_id"] for d in json.loads(tenor("docs", "list", "--json").stdout)] == ["battery-care.txt"]


def test_search_filter_and_bad_filter(tenor_home):
    tenor("ingest", str(SAMPLE_DOCS))
    result = tenor("search", "price", "--where", "document_id=battery-care.txt", "--json")
    assert {p["document_id"] for p in json.loads(result.stdout)} == {"battery-care.txt"}
    bad = tenor("search", "price", "--where", "nonsense")
    assert bad.exit_code == 1 and "KEY=VALUE" in bad.output


def test_bad_collection_name_and_bad_config_are_clear_errors(tenor_home):
    result = tenor("search", "x", "--collection", "no spaces allowed")
    assert result.exit_code == 1 and "invalid collection name" in result.output
    (tenor_home / "config.yaml").write_text("chunk: {tokens: -5}\n")
    result = tenor("docs", "list")
    assert result.exit_code == 1 and "config.yaml" in result.output and "chunk.tokens" in result.output
