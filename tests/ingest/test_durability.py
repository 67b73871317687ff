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
from ingest.pipeline import file_hash, ingest_paths
from tenor.config import Settings
from tenor.net import free_port
from tests.conftest import SAMPLE_DOCS
from tests.ingest.test_index import snapshot

pytestmark = pytest.mark.integration

# The real ingest in a child process; it prints a line after each document it has written
# (the pipeline writes nothing until its embedding batch is full), so the test can kill it
# mid-write rather than after a guessed delay.
INGEST_SCRIPT = """
import sys
from ingest.index import Index
from ingest.pipeline import file_hash, ingest_paths
from tenor.config import Settings

write = Index.write_document
def reporting_write(self, document_id, *args, **kwargs):
    write(self, document_id, *args, **kwargs)
    print("wrote", document_id, flush=True)
Index.write_document = reporting_write
ingest_paths(Settings(home=sys.argv[1], embed={"batch_size": 4}), [sys.argv[2]])
print("done", flush=True)
"""


def write_corpus(root, revision, count=24):
    root.mkdir(exist_ok=True)
    for i in range(count):
        (root / f"doc{i:02}.md").write_text(
            f"# Document {i}\n\nRevision {revision}. "
            + " ".join(f"Fact {j} of document {i} about bikes." for j in range(40))
        )
    return root


KILLS = int(os.environ.get("TENOR_KILL_REPEATS", "3"))  # bench/ingest_kill_bench.py does 20, with checks after each


def documents_fully_at(settings, corpus) -> set[str]:
    """The documents whose chunks in the index all carry the file's current hash."""
    current = {p.name: file_hash(p) for p in corpus.iterdir()}
    hashes: dict[str, set] = {}
    for _, doc, content_hash, _ in snapshot(settings):
        hashes.setdefault(doc, set()).add(content_hash)
    return {doc for doc, seen in hashes.items() if seen == {current[doc]}}


def test_ingest_killed_mid_write_converges_to_a_clean_run(tmp_path):
    corpus = tmp_path / "docs"
    killed = Settings(home=tmp_path / "killed")
    rng = random.Random(7)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    for revision in range(KILLS):  # the first run adds every document, the later ones replace them all
        write_corpus(corpus, revision)
        proc = subprocess.Popen([sys.executable, "-c", INGEST_SCRIPT, str(killed.home), str(corpus)], env=env,
                                stdout=subprocess.PIPE, text=True)
        after = rng.randint(1, 20)
        lines = [proc.stdout.readline().strip() for _ in range(after)]
        time.sleep(rng.uniform(0, 0.05))  # somewhere inside the next document's write
        running = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert running and all(line.startswith("wrote ") for line in lines), lines
        done = documents_fully_at(killed, corpus)
        assert after <= len(done) < 24, (revision, after, len(done))  # killed with the index half-written
    ingest_paths(killed, [corpus])

    clean = Settings(home=tmp_path / "clean")
    ingest_paths(clean, [corpus])
    got, want = snapshot(killed), snapshot(clean)
    assert len(want) >= 24 and got == want  # chunk ids, document ids, content hashes and texts
    assert len({row[0] for row in got}) == len(got) and {row[1] for row in got} == {p.name for p in corpus.iterdir()}
    assert documents_fully_at(killed, corpus) == {p.name for p in corpus.iterdir()}


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
