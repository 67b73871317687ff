"""Scheduled syncs inside the server: GET /v1/admin/sources, and the lease that lets one replica run a source."""

import time

import pytest

from ingest.sync_state import SyncState
from tests.assistant.conftest import CHAT_KEY, admin
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


def test_a_scheduled_folder_sync_runs_in_the_server_and_is_reported(make_client, tmp_path):
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "hours.md").write_text("# Opening hours\n\nThe Larkfield workshop opens at 7 on Saturdays.\n")
    client = make_client(home=tmp_path / "home")
    settings = client.app.state.settings
    assert client.get("/v1/admin/sources", headers={"Authorization": f"Bearer {CHAT_KEY}"}).status_code == 403
    client.__exit__(None, None, None)  # restart it with a source and a fast schedule

    data = settings.model_dump()
    data["profiles"]["larkfield"]["sources"] = [{"name": "kb", "type": "folder", "path": str(kb), "every": "1h",
                                                    "url_prefix": "https://larkfield.example/kb"}]
    data["server"]["sync_check_s"] = 0.2
    client = make_client(home=tmp_path / "home", profiles=data["profiles"], server=data["server"])

    def finished():
        rows = client.get("/v1/admin/sources", headers=admin()).json()["data"]
        return rows if rows[0]["last_finished"] else None

    row = wait_for(finished, 120, "the scheduled sync")[0]
    assert (row["name"], row["type"], row["collection"], row["every"]) == ("kb", "folder", "larkfield", "1h")
    assert row["last_summary"]["added"] == 1 and row["last_error"] is None and not row["running"]
    assert row["next_run"] == pytest.approx(row["last_started"] + 3600)
    docs = client.get("/v1/documents?model=larkfield", headers=admin()).json()["data"]
    assert "hours.md" in {d["id"] for d in docs}
    answer = client.post("/v1/chat/completions", headers=admin(), json={
        "model": "larkfield", "messages": [{"role": "user", "content": "When does the workshop open on Saturdays?"}]})
    cited = {c["document_id"]: c["url"] for c in answer.json()["citations"]}
    assert cited.get("hours.md") == "https://larkfield.example/kb/hours.md"  # the next answer cites its page

    (kb / "hours.md").unlink()
    kb.rmdir()  # the folder is gone: the source fails, the document stays
    client.app.state.sources.state.collection.upsert(  # make it due now rather than in an hour
        ids=["kb"], embeddings=[[0.0]], documents=['{"last_started": 0}'])
    row = wait_for(lambda: (r := finished()) and r[0]["last_error"] and r, 120, "the failing sync")[0]
    assert "no such folder" in row["last_error"]
    docs = client.get("/v1/documents?model=larkfield", headers=admin()).json()["data"]
    assert "hours.md" in {d["id"] for d in docs}


def test_only_one_replica_gets_a_sources_lease(tmp_path):
    from tenor.config import Settings

    settings = Settings(home=tmp_path)
    one, two = SyncState(settings, settle_s=0.05), SyncState(settings, settle_s=0.05)
    assert one.acquire("web", "replica-1", ttl_s=60)
    assert not two.acquire("web", "replica-2", ttl_s=60)  # held and not expired
    one.finish("web", "replica-1", {"added": 1}, None)
    assert two.acquire("web", "replica-2", ttl_s=0.01)  # released: free to take
    time.sleep(0.05)
    assert one.acquire("web", "replica-1", ttl_s=60)  # replica-2's lease expired
    two.finish("web", "replica-2", {"added": 9}, None)  # too late: replica-1's record stands
    assert one.get("web")["holder"] == "replica-1"
