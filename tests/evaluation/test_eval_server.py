"""`tenor eval` end to end against the real server and vLLM, on the reduced CI question set."""

import json
import subprocess
import sys
from statistics import mean

import pytest
import yaml

from evaluation.metrics import correctness
from evaluation.runner import load_question_set
from tenor.answers import voice_adherence
from tenor.config import load_settings
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.vllm
QUESTIONS = EXAMPLES / "eval" / "questions-ci.jsonl"


def test_eval_scores_four_configurations_and_checks_freshness(tenor_server, tmp_path):
    out = tmp_path / "report"
    result = tenor_server.tenor(
        "eval", str(QUESTIONS), "--url", tenor_server.url,
        "--key", tenor_server.admin_key, "--out", str(out), "--max-tokens", "40", "--freshness", "--json",
        timeout=900,
    )
    assert result.stdout, result.stderr[-3000:]
    report = json.loads(result.stdout)
    summary = report["summary"]

    assert list(summary) == ["base", "base+retrieval", "adapter", "adapter+retrieval"]
    records = json.loads((out / "report.json").read_text())["answers"]
    items = {item["id"]: item for item in load_question_set(QUESTIONS)}
    voice = load_settings(tenor_server.config, environ={"TENOR_HOME": str(tenor_server.home)}).profile().voice
    for name, row in summary.items():
        assert row["answers"] == 10 and row["errors"] == 0, (name, row)
        assert row["latency_p50_s"] > 0 and (row["recall@5"] is None) == (not row["retrieval"])
        answers = [r["answer"] for r in records if r["configuration"] == name]
        assert len(answers) == 10 and all(a.strip() for a in answers), name
        # the figures are the answers' own: recomputed here from the text and the profile's rules
        assert row["voice_adherence"] == pytest.approx(mean(voice_adherence(a, voice)[0] for a in answers)), name
        answerable = [(items[r["id"]], r["answer"]) for r in records
                      if r["configuration"] == name and not items[r["id"]].get("unanswerable")]
        assert row["correctness"] == pytest.approx(mean(correctness(i, a) for i, a in answerable)), name
    assert summary["adapter+retrieval"]["recall@5"] >= 0.9
    assert summary["base"]["citation_correctness"] is None
    # retrieval puts the facts in front of the model: with it, more answers are right
    assert summary["base+retrieval"]["correctness"] > summary["base"]["correctness"], summary

    fresh = report["freshness"]
    assert fresh["retrieved_edit"], fresh  # the edited passage reached the next request
    # Whether the model quotes the edit within 40 tokens is its own verdict, and the gate follows it:
    # a failed freshness check fails the run (exit 1), a passed one does not.
    assert report["gate"] == ([] if fresh["passed"] else [f"freshness: {fresh['verdict']}"]), result.stderr[-2000:]
    assert result.returncode == (0 if fresh["passed"] else 1)
    assert fresh["before"] and fresh["after"]

    md = (out / "report.md").read_text()
    assert "| adapter+retrieval |" in md and "## Freshness" in md
    assert (out / "quality.png").stat().st_size > 1000
    # the original document is back: retrieval finds the original price again, not the edit
    passages = tenor_server.openai().post("/retrieve", cast_to=object,
                                          body={"model": "larkfield", "query": "How much does the Commuter C2 cost?"})
    texts = " ".join(p["text"] for p in passages["data"])
    assert "$2,499" in texts and "$2,649" not in texts


def test_base_only_scores_a_profile_without_an_adapter(tenor_server, tmp_path):
    result = tenor_server.tenor(
        "eval", str(EXAMPLES / "eval" / "questions-ci.jsonl"), "--url", tenor_server.url,
        "--key", tenor_server.admin_key, "--out", str(tmp_path), "--profile", "larkfield-base", "--base-only",
        "--limit", "3", "--max-tokens", "20", "--min-recall", "0.5", "--json", timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)["summary"]
    assert list(summary) == ["base", "base+retrieval"]
    assert {row["profile"] for row in summary.values()} == {"larkfield-base"}
    assert all(row["answers"] == 3 and row["errors"] == 0 for row in summary.values())
    assert "## Answers (base+retrieval)" in (tmp_path / "report.md").read_text()
    # the gate reads the last configuration: a recall it cannot reach fails the run
    strict = tenor_server.tenor(
        "eval", str(EXAMPLES / "eval" / "questions-ci.jsonl"), "--url", tenor_server.url,
        "--key", tenor_server.admin_key, "--out", str(tmp_path), "--profile", "larkfield-base", "--base-only",
        "--limit", "1", "--max-tokens", "8", "--min-correctness", "1.01", timeout=600,
    )
    assert strict.returncode == 1 and "below --min-correctness 1.01" in strict.stderr


def test_served_only_scores_a_one_profile_config(tenor_server, tmp_path):
    """A company with one profile (no PROFILE-base) scores what it serves: adapter+retrieval alone."""
    config = yaml.safe_load(tenor_server.config.read_text())
    config["profiles"] = {"larkfield": config["profiles"]["larkfield"]}
    one_profile = tmp_path / "tenor.yaml"
    one_profile.write_text(yaml.safe_dump(config))
    env = {**tenor_server.env(), "TENOR_CONFIG": str(one_profile)}

    def tenor(*args):
        return subprocess.run([sys.executable, "-m", "tenor.cli", "eval", str(QUESTIONS), "--url", tenor_server.url,
                               "--key", tenor_server.admin_key, "--out", str(tmp_path / "report"), *args],
                              env=env, capture_output=True, text=True, timeout=600)

    four = tenor("--limit", "1")
    assert four.returncode == 1 and "unknown profile 'larkfield-base'" in four.stderr and "--served-only" in four.stderr
    result = tenor("--served-only", "--limit", "2", "--max-tokens", "16", "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)["summary"]
    assert list(summary) == ["adapter+retrieval"]
    assert summary["adapter+retrieval"]["answers"] == 2 and summary["adapter+retrieval"]["errors"] == 0
    assert "Served configuration only." in (tmp_path / "report" / "report.md").read_text()
