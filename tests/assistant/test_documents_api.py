"""Document admin endpoints: changes are visible to the very next chat request."""

import os
from pathlib import Path

import pytest

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
    client = make_client(home=home, server={"reindex_roots": [str(docs)]})
    (docs / "parrot.md").write_bytes(SECRET_DOC)
    r = client.post("/v1/documents/reindex", headers=admin(), json={"path": str(docs), "model": "larkfield"})
    assert r.status_code == 200 and r.json()["added"] == 1 and r.json()["unchanged"] >= 9
    assert ask(client)["citations"][0]["document_id"] == "parrot.md"

    (docs / "parrot.md").unlink()
    r = client.post("/v1/documents/reindex", headers=admin(), json={"path": str(docs), "prune": True})
    assert r.json()["removed"] == 1
    assert ask(client)["citations"] == []
    assert_error(client.post("/v1/documents/reindex", headers=admin(), json={"path": str(docs / "gone")}), 404)
    assert_error(client.post("/v1/documents/reindex", headers=admin(), json={"path": "/no/such/folder"}), 403)


def upload(client, name, data=SECRET_DOC, **params):
    return client.post("/v1/documents", params=params, headers=admin(), files={"file": (name, data, "text/markdown")})


@pytest.mark.parametrize("where", ["absolute", "../../outside"])
def test_upload_into_a_collection_outside_uploads_is_400_and_leaves_no_file(make_client, tmp_path, where):
    home = tmp_path / "home"
    outside = tmp_path / "outside"
    outside.mkdir()
    client = make_client(home=home)
    r = upload(client, "canary.md", collection=str(outside) if where == "absolute" else where)
    assert assert_error(r, 400)["param"] == "collection"
    assert list(tmp_path.rglob("canary.md")) == []  # not outside uploads/, and not inside it either


def test_a_failed_upload_leaves_the_stored_file_and_the_index_as_they_were(make_client, private_home):
    home, _ = private_home
    client = make_client(home=home)
    assert upload(client, "parrot.md").status_code == 201
    folder = home / "uploads" / "larkfield"
    assert_error(upload(client, "parrot.md", b""), 400)  # an empty file cannot be loaded
    assert (folder / "parrot.md").read_bytes() == SECRET_DOC
    assert [p.name for p in folder.iterdir()] == ["parrot.md"]  # no temporary file left behind
    assert ask(client)["citations"][0]["document_id"] == "parrot.md"


def test_an_upload_that_fails_on_an_unexpected_error_leaves_no_file(make_client, private_home, monkeypatch):
    import ingest.pipeline
    from ingest.index import IndexUnavailable

    home, _ = private_home
    client = make_client(home=home)

    def chroma_down(*args, **kwargs):
        raise IndexUnavailable("Chroma does not answer")

    monkeypatch.setattr(ingest.pipeline, "ingest_file", chroma_down)
    assert_error(upload(client, "parrot.md"), 503)
    assert list((home / "uploads").rglob("*")) in ([], [home / "uploads" / "larkfield"])


@pytest.mark.parametrize("name", [".hidden.md", "folder/.hidden.md", " .hidden.md"])
def test_hidden_upload_names_are_refused(make_client, private_home, name):
    home, _ = private_home
    client = make_client(home=home)
    error = assert_error(upload(client, name), 400)
    assert error["param"] == "file" and "hidden" in error["message"]
    assert not list((home / "uploads").rglob("*.md"))


@pytest.fixture
def reads(monkeypatch):
    """The files the ingest pipeline opened to hash (the first read of every file)."""
    import ingest.pipeline

    opened = []
    real = ingest.pipeline.file_hash

    def spy(path):
        opened.append(path.name)
        return real(path)

    monkeypatch.setattr(ingest.pipeline, "file_hash", spy)
    return opened


def test_reindex_outside_the_allowed_folders_is_refused_before_reading_anything(make_client, tmp_path, reads):
    allowed, elsewhere = tmp_path / "allowed", tmp_path / "elsewhere"
    allowed.mkdir()
    elsewhere.mkdir()
    (elsewhere / "canary.md").write_bytes(SECRET_DOC)
    (allowed / "to-elsewhere").symlink_to(elsewhere)
    (allowed / "to-proc").symlink_to("/proc/self")

    def refused(client, path):
        r = client.post("/v1/documents/reindex", headers=admin(), json={"path": str(path), "collection": "paths"})
        error = assert_error(r, 403, "permission_error")
        assert error["param"] == "path" and error["code"] == "path_not_allowed"
        return error["message"]

    everything = make_client(server={"reindex_roots": ["/"]})  # even an operator who allows it all
    for path in ("/proc/self", "/sys", "/dev/zero", allowed / "to-proc"):
        assert "system folder" in refused(everything, path)
    client = make_client(server={"reindex_roots": [str(allowed)]})
    for path in ("/etc", elsewhere, allowed / "to-elsewhere"):
        assert "outside the folders" in refused(client, path)
    assert_error(client.post("/v1/documents/reindex", headers=admin(), json={"path": "relative/docs"}), 400)
    assert reads == []
    assert client.get("/v1/documents?collection=paths", headers=admin()).json()["data"] == []


def test_reindex_skips_links_out_system_files_huge_files_and_hidden_folders(make_client, tmp_path, reads):
    from ingest.loaders import MAX_FILE_BYTES

    allowed, elsewhere = tmp_path / "allowed", tmp_path / "elsewhere"
    (allowed / ".private").mkdir(parents=True)
    elsewhere.mkdir()
    (elsewhere / "canary.md").write_bytes(SECRET_DOC)
    (allowed / "parrot.md").write_bytes(SECRET_DOC)
    (allowed / "leak.md").symlink_to(elsewhere / "canary.md")
    (allowed / "environ.md").symlink_to("/proc/self/environ")
    (allowed / ".private" / "secret.md").write_bytes(SECRET_DOC)
    os.mkfifo(allowed / "pipe.md")  # reading it would block forever
    (allowed / "pipe-link.md").symlink_to(allowed / "pipe.md")
    with (allowed / "huge.md").open("wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: costs no disk, would cost a 50 MiB read
    client = make_client(server={"reindex_roots": [str(allowed)]})

    r = client.post("/v1/documents/reindex", headers=admin(), json={"path": str(allowed), "collection": "paths"})
    assert r.status_code == 200, r.text
    failures = {os.path.basename(f["path"]): f["reason"] for f in r.json()["failures"]}
    assert "outside the folders" in failures["leak.md"]
    assert "system folder" in failures["environ.md"]
    assert "limit" in failures["huge.md"]
    assert reads == ["parrot.md"]  # the only file opened
    ids = [d["id"] for d in client.get("/v1/documents?collection=paths", headers=admin()).json()["data"]]
    assert ids == ["parrot.md"]

    for hidden in (allowed / ".private", allowed / ".private" / "secret.md"):
        r = client.post("/v1/documents/reindex", headers=admin(), json={"path": str(hidden), "collection": "paths"})
        assert "hidden" in assert_error(r, 400)["message"]
    assert reads == ["parrot.md"]


def test_reindex_roots_default_to_uploads_and_the_folder_sources(tmp_path):
    from assistant.documents_service import DocumentsService
    from tenor.config import Settings

    settings = Settings(home=tmp_path / "home", profiles={"shop": {"sources": [
        {"name": "manuals", "type": "folder", "path": str(tmp_path / "manuals")},
        {"name": "help", "type": "web", "start_urls": ["https://help.example/"]}]}}, default_profile="shop")
    roots = DocumentsService(settings, index_for=None).reindex_roots()
    assert roots == [(tmp_path / "home" / "uploads").resolve(), (tmp_path / "manuals").resolve()]
    settings.server.reindex_roots = ["docs", "/srv/docs"]
    assert DocumentsService(settings, index_for=None).reindex_roots()[2:] == [
        (tmp_path / "home" / "docs").resolve(), Path("/srv/docs").resolve()]
