"""`tenor eval` end to end against the real server and vLLM, on the reduced CI question set."""

import json

import pytest

from tests.conftest import EXAMPLES

pytestmark = pytest.mark.vllm


def test_eval_scores_four_configurations_and_checks_freshness(tenor_server, tmp_path):
    out = tmp_path / "report"
    result = tenor_server.tenor(
        "eval", str(EXAMPLES / "eval" / "questions-ci.jsonl"), "--url", tenor_server.url,
        "--key", tenor_server.admin_key, "--out", str(out), "--max-tokens", "40", "--freshness", "--json",
        timeout=900,
    )
    assert result.stdout, result.stderr[-3000:]
    report = json.loads(result.stdout)
    summary = report["summary"]

    assert list(summary) == ["base", "base+retrieval", "adapter", "adapter+retrieval"]
    for name, row in summary.items():
        assert row["answers"] == 10 and row["errors"] == 0, (name, row)
        assert 0 <= row["voice_adherence"] <= 1 and row["latency_p50_s"] > 0
        assert (row["recall@5"] is None) == (not row["retrieval"])
    assert summary["adapter+retrieval"]["recall@5"] >= 0.9
    assert summary["base"]["citation_correctness"] is None

    fresh = report["freshness"]
    assert fresh["retrieved_edit"], fresh  # the edited passage reached the next request
    assert (result.returncode == 0) == fresh["passed"], result.stderr[-2000:]
    assert fresh["before"] and fresh["after"]

    md = (out / "report.md").read_text()
    assert "| adapter+retrieval |" in md and "## Freshness" in md
    assert (out / "quality.png").stat().st_size > 1000
    # the original document is back: retrieval finds the original price again, not the edit
    passages = tenor_server.openai().post("/retrieve", cast_to=object,
                                          body={"model": "larkfield", "query": "How much does the Commuter C2 cost?"})
    texts = " ".join(p["text"] for p in passages["data"])
    assert "$2,499" in texts and "$2,649" not in texts
