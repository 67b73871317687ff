"""The conversation log and feedback through the API: chat is logged (redacted), rated, exported as training data."""

import json

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from tests.assistant.conftest import BASE_ONLY_KEY, CHAT_KEY, admin, sample_settings

pytestmark = pytest.mark.integration


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def logging_client(make_client, indexed_home):
    data = sample_settings(indexed_home).model_dump()
    data["profiles"]["larkfield"]["log_conversations"] = True
    data["profiles"]["larkfield"]["answer_policy"] = "off"  # the fake model's own words are what gets logged
    return make_client(profiles=data["profiles"])


def ask(client, question, **body):
    return client.post("/v1/chat/completions", headers=bearer(CHAT_KEY), json={
        "model": "larkfield", "messages": [{"role": "user", "content": question}], **body})


def test_answers_are_logged_rated_and_exported_as_training_data(logging_client, tmp_path, monkeypatch):
    client = logging_client
    answered = ask(client, "How long is the warranty on the frame?")
    assert answered.status_code == 200
    response_id = answered.json()["id"]
    streamed = ask(client, "What does the Cargo K1 cost?", stream=True)
    stream_id = json.loads(streamed.text.split("\n\n")[0][len("data: "):])["id"]
    off_topic = ask(client, "What is the capital of Mongolia? Mail me at jane@example.com")
    assert off_topic.status_code == 200

    down = client.post("/v1/feedback", headers=bearer(CHAT_KEY), json={
        "response_id": response_id, "rating": "down", "comment": "call me on +44 20 7946 0958",
        "correction": "Hey rider! The frame has a lifetime warranty."})
    assert down.status_code == 201 and down.json()["response_id"] == response_id
    assert client.post("/v1/feedback", headers=bearer(CHAT_KEY),
                       json={"response_id": stream_id, "rating": "up"}).status_code == 201
    off_id = off_topic.json()["id"]
    assert client.post("/v1/feedback", headers=bearer(CHAT_KEY),
                       json={"response_id": off_id, "rating": "down"}).status_code == 201

    log = client.app.state.conversations
    rows = {e.id: e for e in log.exchanges()}
    assert (rows[response_id].outcome, rows[stream_id].outcome, rows[off_id].outcome) == \
        ("answered", "answered", "no_answer")
    assert rows[stream_id].answer and rows[stream_id].adapter == "larkfield-voice"
    # no e-mail address or phone number in any column a caller's words reach (not the ids and
    # timestamps the server makes: their random digits held "7946" in one CI run)
    with log.engine.connect() as conn:
        dump = " ".join(str(v) for query in ("SELECT question, answer, citations, adapter FROM exchanges",
                                             "SELECT comment, correction FROM feedback")
                        for r in conn.execute(text(query)) for v in r)
    assert "jane@example.com" not in dump and "7946" not in dump and "[email]" in dump

    from tenor.cli import app

    monkeypatch.setenv("TENOR_CONFIG", str(tmp_path / "tenor.yaml"))
    (tmp_path / "tenor.yaml").write_text(f"home: {client.app.state.settings.home}\n")
    out = tmp_path / "feedback.jsonl"
    result = CliRunner().invoke(app, ["feedback", "export", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["examples"] == 2 and [d["response_id"] for d in summary["disliked"]] == [off_id]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    targets = {line["messages"][-1]["content"] for line in lines}
    assert "Hey rider! The frame has a lifetime warranty." in targets  # the correction, not the answer

    from finetune.data import load_examples

    assert len(load_examples(out).examples) == 2  # what `tenor finetune` accepts


def test_feedback_errors_are_openai_shaped(logging_client, client):
    missing = logging_client.post("/v1/feedback", headers=bearer(CHAT_KEY),
                                  json={"response_id": "chatcmpl-nope", "rating": "up"})
    assert missing.status_code == 404 and missing.json()["error"]["param"] == "response_id"
    bad = logging_client.post("/v1/feedback", headers=bearer(CHAT_KEY), json={"response_id": "x", "rating": "meh"})
    assert bad.status_code == 400 and "error" in bad.json()
    answer_id = ask(logging_client, "How long is the warranty on the frame?").json()["id"]
    other_profile = logging_client.post("/v1/feedback", headers=bearer(BASE_ONLY_KEY),
                                        json={"response_id": answer_id, "rating": "up"})
    assert other_profile.status_code == 404  # a key that may not use the profile cannot rate its answers
    assert client.post("/v1/feedback", headers=admin(),  # logging off: nothing to rate
                       json={"response_id": answer_id, "rating": "up"}).status_code == 404


def test_content_gaps_group_unanswered_questions_by_meaning(logging_client, tmp_path, monkeypatch):
    client = logging_client
    for question in ("What is your favourite pizza topping?", "Which pizza toppings do you like best?",
                     "Best pizza topping in your opinion?", "What is the capital of Mongolia?"):
        assert ask(client, question).status_code == 200
    disliked = ask(client, "How long is the warranty on the frame?").json()["id"]
    client.post("/v1/feedback", headers=bearer(CHAT_KEY), json={"response_id": disliked, "rating": "down",
                                                                "comment": "too vague"})
    assert client.get("/v1/admin/gaps", headers=bearer(CHAT_KEY)).status_code == 403
    report = client.get("/v1/admin/gaps?model=larkfield", headers=admin()).json()
    assert report["unanswered"] >= 4
    pizza = report["gaps"][0]
    assert pizza["count"] >= 3 and all("pizza" in e for e in pizza["examples"])
    assert any("Mongolia" in e for g in report["gaps"][1:] for e in g["examples"])
    assert report["disliked"][0]["comment"] == "too vague"

    from tenor.cli import app

    monkeypatch.setenv("TENOR_CONFIG", str(tmp_path / "tenor.yaml"))
    (tmp_path / "tenor.yaml").write_text(f"home: {client.app.state.settings.home}\n")
    result = CliRunner().invoke(app, ["gaps", "--report", str(tmp_path / "gaps")])
    assert result.exit_code == 0, result.stderr
    text = (tmp_path / "gaps" / "report.md").read_text()
    assert "![questions per gap](gaps.png)" in text and (tmp_path / "gaps" / "gaps.png").stat().st_size > 1000
