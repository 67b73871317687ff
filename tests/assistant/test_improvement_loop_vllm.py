"""The improvement loop end to end, on the real server and vLLM: chat, a thumbs-down with a
correction, export, fine-tune a new version, promote it through the eval gate, refuse a
deliberately worse version, roll back; the conversation log names the version behind each answer.

It works on its own profile (``larkfield-loop``, adapter ``loop-voice``, version 1 from the
fixture), so the other tests of the session server keep their adapter.
"""

import json

import httpx
import pytest
import yaml

from tests.vllm_fixtures import LOOP_ADAPTER, LOOP_PROFILE

pytestmark = pytest.mark.vllm
VOICE = "examples/larkfield/voice/train.jsonl"
GATE = ["--profile", LOOP_PROFILE, "--max-tokens", "24", "--concurrency", "4", "--json"]


def chat(server, question):
    client = server.openai()
    reply = client.chat.completions.create(model=LOOP_PROFILE, max_tokens=48, temperature=0,
                                           messages=[{"role": "user", "content": question}])
    return reply.id


def served_version(server) -> str:
    listing = httpx.get(f"{server.url}/v1/admin/adapters", headers={"Authorization": f"Bearer {server.admin_key}"})
    return next(row["version"] for row in listing.json()["data"] if row["profile"] == LOOP_PROFILE)


def finetune(server, data, *extra):
    result = server.tenor("finetune", str(data), "--out", LOOP_ADAPTER, "--profile", LOOP_PROFILE,
                          "--check-answers", "0", "--json", *extra, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)["manifest"]


def test_feedback_becomes_a_new_version_that_is_promoted_and_a_worse_one_is_not(tenor_server, tmp_path):
    server = tenor_server
    admin = {"Authorization": f"Bearer {server.admin_key}"}
    asked = chat(server, "How long is the warranty on the frame?")
    feedback = httpx.post(f"{server.url}/v1/feedback", headers=admin, json={
        "response_id": asked, "rating": "down", "comment": "wrong period",
        "correction": "Hey rider! Frames are covered for life; motors and batteries for 2 years.\n\n"
                      "Ride bright! — The Larkfield crew"})
    assert feedback.status_code == 201, feedback.text

    exported = tmp_path / "feedback.jsonl"
    result = server.tenor("feedback", "export", "--out", str(exported), "--profile", LOOP_PROFILE)
    assert result.returncode == 0, result.stderr
    examples = [json.loads(line) for line in exported.read_text().splitlines()]
    assert [e["messages"][-1]["content"][:40] for e in examples] == ["Hey rider! Frames are covered for life; "]

    # version 2: the sample voice data and the correction (trained --plain: grounded training's
    # passages make each example ten times longer, minutes on this CPU; the loop is the same)
    data = tmp_path / "voice-and-feedback.jsonl"
    data.write_text("".join(open(VOICE).readlines()[:5]) + exported.read_text())
    manifest = finetune(server, data, "--plain", "--epochs", "1")
    assert (manifest["name"], manifest["parent"]) == (f"{LOOP_ADAPTER}@2", f"{LOOP_ADAPTER}@1")
    assert served_version(server) == f"{LOOP_ADAPTER}@1"  # a candidate until promoted

    questions = tmp_path / "questions.jsonl"
    items = [json.loads(line) for line in open("examples/larkfield/eval/questions-ci.jsonl")]
    pick = [i for i in items if not i.get("history") and not i.get("unanswerable")][:1]
    pick += [i for i in items if i.get("unanswerable")][:1]
    questions.write_text("".join(json.dumps(i) + "\n" for i in pick))
    gate = [*GATE, "--url", server.url, "--key", server.admin_key, "--questions", str(questions)]

    promoted = server.tenor("adapters", "promote", f"{LOOP_ADAPTER}@2", *gate, "--tolerance", "0.5",
                            timeout=900)
    assert promoted.returncode == 0, promoted.stderr[-3000:]
    verdict = json.loads(promoted.stdout)
    assert verdict["passed"] and verdict["gate"]["questions"] == 2
    print("promote @2:", json.dumps(verdict["gate"]["figures"]))
    assert served_version(server) == f"{LOOP_ADAPTER}@2"
    after_promotion = chat(server, "What does the Cargo K1 cost?")

    # version 3, deliberately worse: trained to turn every question away
    refusal = yaml.safe_load(server.config.read_text())["profiles"][LOOP_PROFILE]["no_answer"]
    refusing = tmp_path / "refusing.jsonl"
    refusing.write_text("".join(
        json.dumps({"messages": [json.loads(line)["messages"][0], {"role": "assistant", "content": refusal}]}) + "\n"
        for line in open(VOICE).readlines()[:8]))
    manifest = finetune(server, refusing, "--plain", "--epochs", "3", "--lr", "0.003")
    assert manifest["name"] == f"{LOOP_ADAPTER}@3" and manifest["parent"] == f"{LOOP_ADAPTER}@2"

    refused = server.tenor("adapters", "promote", f"{LOOP_ADAPTER}@3", *gate, "--tolerance", "0.5", timeout=900)
    assert refused.returncode == 1, refused.stderr[-3000:]
    verdict = json.loads(refused.stdout)
    print("promote @3:", json.dumps(verdict["gate"]["figures"]), verdict["gate"]["failures"])
    assert not verdict["passed"] and "not promoted" in refused.stderr
    assert any(f.startswith(("correctness", "false_refusal_rate")) for f in verdict["gate"]["failures"])
    assert served_version(server) == f"{LOOP_ADAPTER}@2"

    rolled = server.tenor("adapters", "rollback", LOOP_PROFILE, "--url", server.url,
                          "--key", server.admin_key)
    assert rolled.returncode == 0, rolled.stderr
    assert f"{LOOP_ADAPTER}@1 serves again" in rolled.stderr
    assert served_version(server) == f"{LOOP_ADAPTER}@1"
    after_rollback = chat(server, "What does the Cargo K1 cost?")

    from assistant.conversation_log import ConversationLog
    from tenor.config import load_settings

    log = ConversationLog.from_settings(load_settings(server.config, environ={"TENOR_HOME": str(server.home)}))
    try:
        by_id = {e.id: e.adapter for e in log.exchanges(LOOP_PROFILE)}
    finally:
        log.close()
    assert [by_id[i] for i in (asked, after_promotion, after_rollback)] == [
        f"{LOOP_ADAPTER}@1", f"{LOOP_ADAPTER}@2", f"{LOOP_ADAPTER}@1"]
    # the gate's own answers are in the log too, each under the version that wrote it
    assert {f"{LOOP_ADAPTER}@2", f"{LOOP_ADAPTER}@3"} <= set(by_id.values())
    history = json.loads((server.home / "adapters" / f"{LOOP_ADAPTER}.history.json").read_text())
    assert [(e["action"], e["version"]) for e in history["events"]] == [
        ("first version", 1), ("promote", 2), ("rollback", 1)]
    assert history["events"][1]["gate"]["candidate"] == f"{LOOP_ADAPTER}@2"
