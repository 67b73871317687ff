"""Real process deaths and a real Chroma server on loopback."""

import os
import random
import signal
import subprocess
import sys
import time

import httpx
import pytest

from ingest.index import open_index
from ingest.pipeline import ingest_paths
from tenor.config import Settings
from tenor.net import free_port
from tests.conftest import SAMPLE_DOCS
from tests.ingest.test_index import snapshot

pytestmark = pytest.mark.integration

INGEST_SCRIPT = "import sys; from ingest.pipeline import ingest_paths; from tenor.config import Settings; " \
                "ingest_paths(Settings(home=sys.argv[1], embed={'batch_size': 4}), [sys.argv[2]])"


def many_docs(root, count=24):
    root.mkdir()
    for i in range(count):
        (root / f"doc{i:02}.md").write_text(
            f"# Document {i}\n\n" + " ".join(f"Fact {j} of document {i} about bikes." for j in range(40))
        )
    return root


KILLS = int(os.environ.get("TENOR_KILL_REPEATS", "3"))  # bench/ingest_kill_bench.py does 20, with checks after each


def test_ingest_killed_at_random_points_converges_to_a_clean_run(tmp_path):
    corpus = many_docs(tmp_path / "docs")
    clean = Settings(home=tmp_path / "clean")
    ingest_paths(clean, [corpus])
    expected = [row[:3] for row in snapshot(clean)]

    killed = Settings(home=tmp_path / "killed")
    rng = random.Random(7)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    for _ in range(KILLS):
        proc = subprocess.Popen([sys.executable, "-c", INGEST_SCRIPT, str(killed.home), str(corpus)], env=env)
        time.sleep(rng.uniform(8.0, 14.0))  # import + model load take ~7 s; then it is writing
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # every other kill: also change a document, so a replacement gets interrupted too
        (corpus / "doc03.md").write_text(f"# Document 3\n\nRevision {rng.random()}.\n")
    final = (corpus / "doc03.md").read_text()
    ingest_paths(killed, [corpus])

    clean_again = Settings(home=tmp_path / "clean2")
    (corpus / "doc03.md").write_text(final)
    ingest_paths(clean_again, [corpus])
    got, want = snapshot(killed), snapshot(clean_again)
    assert got == want  # chunk ids, document ids, content hashes and texts
    assert len({row[0] for row in got}) == len(got) and {row[1] for row in got} == {p.name for p in corpus.iterdir()}
    assert len(expected) > 0



@pytest.fixture
def chroma_server(tmp_path):
    port = free_port()
    chroma = os.path.join(os.path.dirname(sys.executable), "chroma")
    proc = subprocess.Popen(
        [chroma, "run", "--path", str(tmp_path / "chroma-data"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("chroma run did not start")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def test_server_mode_ingests_and_searches_over_http(tmp_path, chroma_server):
    settings = Settings(home=tmp_path / "home", chroma_url=chroma_server)
    summary = ingest_paths(settings, [SAMPLE_DOCS], collection="larkfield")
    assert summary.failed == 0 and summary.added >= 8
    assert not (settings.home / "index").exists()  # nothing embedded: it all went to the server
    index = open_index(settings, "larkfield")
    index.ping()
    hits = index.search("How long is the motor and battery covered?", k=5)
    assert "warranty.pdf" in {h.document_id for h in hits}
    assert ingest_paths(settings, [SAMPLE_DOCS], collection="larkfield").unchanged == summary.added
