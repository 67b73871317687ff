"""Document admin endpoints: changes are visible to the very next chat request."""

from tests.assistant.conftest import admin
from tests.assistant.test_errors_auth import assert_error

SECRET_Q = "What does Captain Zephyr, the office parrot, eat?"
SECRET_DOC = b"# Captain Zephyr\n\nCaptain Zephyr is the office parrot at our workshop. Captain Zephyr the parrot eats sunflower seeds and apple slices twice a day.\n"


def ask(client, question=SECRET_Q):
    return client.post("/v1/chat/completions", headers=admin(), json={
        "model": "larkfield", "messages": [{"role": "user", "content": question}]}).json()


def test_upload_list_get_delete_visible_to_the_next_chat(make_client, private_home):
    home, _ = private_home
    client = make_client(home=home)
    assert ask(client)["citations"] == []  # not covered yet: the no-answer path

    r = client.post("/v1/documents?model=larkfield", headers=admin(),
                    files={"file": ("parrot.md", SECRET_DOC, "text/markdown")})
    assert r.status_code == 201, r.text
    assert r.json()["id"] == "parrot.md" and r.json()["chunks"] >= 1
    assert ask(client)["citations"][0]["document_id"] == "parrot.md"

    ids = [d["id"] for d in client.get("/v1/documents", headers=admin()).json()["data"]]
    assert "parrot.md" in ids and "warranty.pdf" in ids
    assert client.get("/v1/documents/parrot.md", headers=admin()).json()["chunks"] >= 1

    assert client.delete("/v1/documents/parrot.md", headers=admin()).json()["deleted"] is True
    assert all(c["document_id"] != "parrot.md" for c in ask(client)["citations"])
    assert_error(client.get("/v1/documents/parrot.md", headers=admin()), 404)
    assert_error(client.delete("/v1/documents/parrot.md", headers=admin()), 404)


def test_upload_name_cannot_escape_the_uploads_folder(make_client, private_home):
    home, _ = private_home
    client = make_client(home=home)
    r = client.post("/v1/documents", headers=admin(),
                    files={"file": ("../../../etc/evil.md", SECRET_DOC, "text/markdown")})
    assert r.status_code == 201 and r.json()["id"] == "evil.md"
    assert (home / "uploads" / "larkfield" / "evil.md").is_file()
    assert not (home.parent / "etc").exists()
    assert_error(client.post("/v1/documents", headers=admin(), files={"file": ("..", b"x", "text/plain")}), 400)


def test_unsupported_upload_is_400_and_changes_nothing(make_client, private_home):
    home, _ = private_home
    client = make_client(home=home)
    before = client.get("/v1/documents", headers=admin()).json()["data"]
    r = client.post("/v1/documents", headers=admin(), files={"file": ("tool.exe", b"MZ\x00\x01", "application/octet-stream")})
    assert_error(r, 400)
    assert client.get("/v1/documents", headers=admin()).json()["data"] == before


def test_upload_over_the_size_limit_is_413(make_client, private_home):
    home, _ = private_home
    client = make_client(home=home, server={"max_body_bytes": 1000})
    r = client.post("/v1/documents", headers=admin(), files={"file": ("big.md", b"word " * 1000, "text/markdown")})
    assert_error(r, 413)


def test_reindex_a_folder_after_editing_a_document(make_client, private_home):
    home, docs = private_home
    client = make_client(home=home)
    (docs / "parrot.md").write_bytes(SECRET_DOC)
    r = client.post("/v1/documents/reindex", headers=admin(), json={"path": str(docs), "model": "larkfield"})
    assert r.status_code == 200 and r.json()["added"] == 1 and r.json()["unchanged"] >= 9
    assert ask(client)["citations"][0]["document_id"] == "parrot.md"

    (docs / "parrot.md").unlink()
    r = client.post("/v1/documents/reindex", headers=admin(), json={"path": str(docs), "prune": True})
    assert r.json()["removed"] == 1
    assert ask(client)["citations"] == []
    assert_error(client.post("/v1/documents/reindex", headers=admin(), json={"path": "/no/such/folder"}), 404)
