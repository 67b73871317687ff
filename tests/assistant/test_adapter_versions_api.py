"""Adapter versions through the admin API: promote and rollback hot-swap the version vLLM serves,
the conversation log names the version that answered, and only admins pick an adapter per request."""

import pytest

from tenor.adapter_versions import AdapterVersions
from tests.assistant.conftest import CHAT_KEY, admin, sample_settings
from tests.assistant.fake_vllm import FakeVllm

pytestmark = pytest.mark.integration
NAME = "larkfield-voice"


def make_adapter(folder):
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text('{"r": 8}')
    (folder / "adapter_model.safetensors").write_bytes(b"")
    return folder


@pytest.fixture
def versioned(make_client, tmp_path):
    """A server whose profile 'larkfield' serves larkfield-voice@1, with @2 trained beside it."""
    home = tmp_path / "home"
    for n in (1, 2):
        make_adapter(home / "adapters" / f"{NAME}@{n}")
    AdapterVersions(home / "adapters", NAME).promote(1, action="first version")
    fake = FakeVllm().start()
    profiles = sample_settings(home).model_dump()["profiles"]
    profiles["larkfield"]["log_conversations"] = True
    yield make_client(home=home, engine_url=fake.url, profiles=profiles), fake, home
    fake.stop()


def ask(client, key_headers, **extra):
    reply = client.post("/v1/chat/completions", headers=key_headers, json={
        "model": "larkfield", "messages": [{"role": "user", "content": "Hi there"}], "retrieval": False, **extra})
    assert reply.status_code == 200, reply.text
    return reply.json()["id"]


def test_promote_and_rollback_swap_the_version_in_place_and_the_log_names_each(versioned):
    client, fake, home = versioned
    assert client.get("/v1/admin/adapters", headers=admin()).json()["data"][0]["version"] == f"{NAME}@1"
    first = ask(client, admin())

    promoted = client.post("/v1/admin/adapters/promote", headers=admin(),
                           json={"adapter": f"{NAME}@2", "gate": {"failures": []}})
    assert promoted.status_code == 200, promoted.text
    assert {k: promoted.json()[k] for k in ("action", "serving", "previous", "profiles")} == {
        "action": "promote", "serving": f"{NAME}@2", "previous": f"{NAME}@1", "profiles": ["larkfield"]}
    # vLLM holds @2 under the name the profile uses: no restart, no change for clients
    assert fake.app.state.lora_paths[NAME] == str(home / "adapters" / f"{NAME}@2")
    second = ask(client, admin())

    back = client.post("/v1/admin/adapters/rollback", headers=admin(), json={"name": NAME})
    assert back.status_code == 200 and back.json()["serving"] == f"{NAME}@1", back.text
    assert fake.app.state.lora_paths[NAME] == str(home / "adapters" / f"{NAME}@1")
    third = ask(client, admin())

    logged = {e.id: e.adapter for e in client.app.state.conversations.exchanges()}
    assert [logged[i] for i in (first, second, third)] == [f"{NAME}@1", f"{NAME}@2", f"{NAME}@1"]
    assert AdapterVersions(home / "adapters", NAME).serving() == 1

    again = client.post("/v1/admin/adapters/rollback", headers=admin(), json={"name": NAME})
    assert again.status_code == 404 and "no earlier version" in again.json()["error"]["message"]
    missing = client.post("/v1/admin/adapters/promote", headers=admin(), json={"adapter": f"{NAME}@7"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "adapter_version_not_found"
    unknown = client.post("/v1/admin/adapters/rollback", headers=admin(), json={"name": "nobody"})
    assert unknown.status_code == 404 and "no profile serves" in unknown.json()["error"]["message"]
    chat = client.post("/v1/admin/adapters/promote", headers={"Authorization": f"Bearer {CHAT_KEY}"},
                       json={"adapter": f"{NAME}@2"})
    assert chat.status_code == 403


def test_an_admin_may_answer_with_a_loaded_candidate_and_nobody_else_may(versioned):
    client, fake, home = versioned
    loaded = client.post("/v1/admin/adapters", headers=admin(),
                         json={"name": f"{NAME}@2", "path": str(home / "adapters" / f"{NAME}@2")})
    assert loaded.status_code == 200, loaded.text
    answered = ask(client, admin(), adapter=f"{NAME}@2")
    assert fake.requests[-1]["model"] == f"{NAME}@2"
    logged = {e.id: e.adapter for e in client.app.state.conversations.exchanges()}
    assert logged[answered] == f"{NAME}@2"
    refused = client.post("/v1/chat/completions", headers={"Authorization": f"Bearer {CHAT_KEY}",
                                                           "Origin": "https://shop.example"}, json={
        "model": "larkfield", "messages": [{"role": "user", "content": "Hi"}], "adapter": f"{NAME}@2"})
    assert refused.status_code == 403 and "admin" in refused.json()["error"]["message"]
    base = client.post("/v1/chat/completions", headers=admin(), json={
        "model": "larkfield-base", "messages": [{"role": "user", "content": "Hi"}], "adapter": f"{NAME}@2"})
    assert base.status_code == 400 and base.json()["error"]["param"] == "adapter"


def test_a_bad_reference_is_a_400_and_a_failed_record_swaps_back(versioned, monkeypatch):
    client, fake, home = versioned
    bad = client.post("/v1/admin/adapters/promote", headers=admin(), json={"adapter": f"{NAME}@two"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "adapter", bad.text

    def cannot_write(self, history, event):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(AdapterVersions, "_write", cannot_write)
    failed = client.post("/v1/admin/adapters/promote", headers=admin(), json={"adapter": f"{NAME}@2"})
    assert failed.status_code == 500 and "does not serve" in failed.json()["error"]["message"], failed.text
    # vLLM holds the serving version again, and the history still names it
    assert fake.app.state.lora_paths[NAME] == str(home / "adapters" / f"{NAME}@1")
    assert AdapterVersions(home / "adapters", NAME).serving() == 1
    listed = client.get("/v1/admin/adapters", headers=admin()).json()["data"]
    assert next(r["version"] for r in listed if r["profile"] == "larkfield") == f"{NAME}@1"
