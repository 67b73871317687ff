"""The scaled-out topology, as real processes on loopback: one vLLM (CPU build), one
`chroma run` server, and two `tenor serve` replicas that share them, the way
deploy/compose.yaml and deploy/k8s/ wire them (TENOR_VLLM__URL, TENOR_CHROMA_URL).

Replica B runs like the light image: `embed.backend: onnx`, with torch,
transformers and sentence-transformers unimportable (tests/deploy/torchless).
Replica A embeds with sentence-transformers; both read and write one collection.

The vLLM is the session's (tests/vllm_fixtures.py ``tenor_server``), so the
`vllm` tier starts only one.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tenor.net import free_port
from tests.waiting import wait_for
from tests.vllm_fixtures import ADMIN_KEY, CHAT_KEY

pytestmark = pytest.mark.vllm

HERE = Path(__file__).resolve().parent
FACT_DOC = "tandem-t9.md"
FACT = ("# Tandem T9\n\nThe Larkfield Tandem T9 is our two-rider e-bike. The Tandem T9 costs $4,321 "
        "and comes only in teal. Each Tandem T9 ships with two 500 Wh batteries.\n")
QUESTION = "How much does the Tandem T9 cost?"


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=3).status_code
    except httpx.HTTPError:
        return None


@dataclass
class Proc:
    name: str
    process: subprocess.Popen
    log: Path

    def stop(self, sig=signal.SIGTERM, timeout: float = 30) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


class Topology:
    def __init__(self, root: Path, vllm_url: str, config: Path, base_model: Path, onnx_dir: Path):
        self.root = root
        self.vllm_url = vllm_url
        self.config = config
        self.base_model = base_model
        self.onnx_dir = onnx_dir
        self.chroma_port = free_port()
        self.chroma_url = f"http://127.0.0.1:{self.chroma_port}"
        self.procs: list[Proc] = []

    def _spawn(self, name: str, cmd: list[str], env: dict) -> Proc:
        log = self.root / f"{name}.log"
        with log.open("a") as out:
            process = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        proc = Proc(name, process, log)
        self.procs.append(proc)
        return proc

    def start_chroma(self) -> Proc:
        chroma = str(Path(sys.executable).with_name("chroma"))
        proc = self._spawn("chroma", [chroma, "run", "--path", str(self.root / "chroma"), "--host", "127.0.0.1",
                                      "--port", str(self.chroma_port)], dict(os.environ))
        wait_for(lambda: _status(f"{self.chroma_url}/api/v2/heartbeat") == 200, 60, "chroma", proc.log)
        return proc

    def start_replica(self, name: str, light: bool) -> tuple[Proc, str]:
        home = self.root / f"home-{name}"
        (home / "models").mkdir(parents=True, exist_ok=True)
        link = home / "models" / self.base_model.name  # the base tokenizer, for prompt budgets
        if not link.exists():
            link.symlink_to(self.base_model, target_is_directory=True)
        port = free_port()
        env = {**os.environ, "TENOR_HOME": str(home), "TENOR_CONFIG": str(self.config),
               "TENOR_VLLM__URL": self.vllm_url, "TENOR_CHROMA_URL": self.chroma_url,
               "TENOR_SERVER__METRICS_PORT": "0"}  # the session server's config holds its own metrics port
        if light:  # as the light image: ONNX embedder, and no torch to import at all
            env.update(TENOR_EMBED__BACKEND="onnx", TENOR_EMBED__ONNX_PATH=str(self.onnx_dir),
                       PYTHONPATH=os.pathsep.join([str(HERE / "torchless"), env.get("PYTHONPATH", "")]))
        proc = self._spawn(name, [sys.executable, "-m", "tenor.cli", "serve", "--port", str(port)], env)
        url = f"http://127.0.0.1:{port}"

        def ready():
            if proc.process.poll() is not None:
                pytest.fail(f"replica {name} exited with {proc.process.returncode}:\n{proc.log.read_text()[-3000:]}")
            return _status(f"{url}/ready") == 200

        wait_for(ready, 180, f"replica {name} /ready", proc.log)
        return proc, url

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()


def _headers(key: str = ADMIN_KEY) -> dict:
    return {"Authorization": f"Bearer {key}"}


def _retrieve(url: str, query: str = QUESTION) -> httpx.Response:
    return httpx.post(f"{url}/v1/retrieve", json={"model": "larkfield", "query": query, "k": 3},
                      headers=_headers(CHAT_KEY), timeout=60)


def _chat(url: str, question: str = QUESTION) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", headers=_headers(CHAT_KEY), timeout=300, json={
        "model": "larkfield", "max_tokens": 24, "temperature": 0,
        "messages": [{"role": "user", "content": question}]})


def _cited(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [c["document_id"] for c in response.json()["citations"]]


@pytest.fixture
def topology(tenor_server, prepared_base_model, onnx_embedder_dir, tmp_path):
    match = re.search(r"\(vLLM:\s+(http://[\d.]+:\d+)\)", tenor_server.log.read_text())
    assert match, "the session server's log names its vLLM"
    topo = Topology(tmp_path, match.group(1), tenor_server.config, prepared_base_model, onnx_embedder_dir)
    try:
        yield topo
    finally:
        topo.close()


def test_two_replicas_share_vllm_and_chroma_and_survive_failures(topology):
    started = time.monotonic()
    chroma = topology.start_chroma()
    a, url_a = topology.start_replica("a", light=False)
    b, url_b = topology.start_replica("b", light=True)
    ready_s = time.monotonic() - started

    # Replica B knows nothing of the Tandem T9 yet (the shared collection is empty).
    assert FACT_DOC not in [c["document_id"] for c in _retrieve(url_b).json()["data"]]

    # 1. Ingest through replica A's admin API; replica B answers from it on its next request.
    upload = httpx.post(f"{url_a}/v1/documents", params={"model": "larkfield"}, headers=_headers(),
                        files={"file": (FACT_DOC, FACT.encode(), "text/markdown")}, timeout=120)
    assert upload.status_code == 201, upload.text
    assert upload.json()["id"] == FACT_DOC and upload.json()["chunks"] >= 1
    hits = _retrieve(url_b).json()["data"]
    assert hits and hits[0]["document_id"] == FACT_DOC and "$4,321" in hits[0]["text"]
    answer_b = _chat(url_b)
    assert _cited(answer_b)[0] == FACT_DOC  # grounded on the new document, generated by the shared vLLM
    assert answer_b.json()["choices"][0]["message"]["content"].strip()
    assert httpx.get(f"{url_b}/v1/documents/{FACT_DOC}", params={"model": "larkfield"},
                     headers=_headers(), timeout=30).status_code == 200

    # 2. Kill replica A outright: B keeps serving every request.
    a.stop(signal.SIGKILL)
    assert _status(f"{url_a}/health") is None
    for _ in range(3):
        assert _retrieve(url_b).json()["data"][0]["document_id"] == FACT_DOC
    assert _cited(_chat(url_b))[0] == FACT_DOC
    assert _status(f"{url_b}/ready") == 200

    # A replacement replica (what a Deployment does) sees the same index at once: no state in Tenor.
    a2, url_a2 = topology.start_replica("a2", light=False)
    assert _retrieve(url_a2).json()["data"][0]["document_id"] == FACT_DOC

    # 3. Restart Chroma. While it is down, both replicas answer 503 cleanly (and stay alive);
    #    once it is back they serve again, without restarting Tenor, with the data intact.
    chroma.stop()
    assert chroma.process.returncode is not None
    for url in (url_a2, url_b):
        assert _status(f"{url}/health") == 200  # liveness: the process is fine
        ready = httpx.get(f"{url}/ready", timeout=30)
        assert ready.status_code == 503 and ready.json()["checks"]["index"].startswith("unavailable")
        down = _chat(url)
        assert down.status_code == 503, down.text
        assert "index is unavailable" in down.json()["error"]["message"] and down.headers.get("Retry-After")
        assert _retrieve(url).status_code == 503
    topology.procs.remove(chroma)
    topology.start_chroma()
    for url in (url_a2, url_b):
        wait_for(lambda: _status(f"{url}/ready") == 200, 60, f"{url} ready again")
        assert _retrieve(url).json()["data"][0]["document_id"] == FACT_DOC
        assert _cited(_chat(url))[0] == FACT_DOC
    assert a2.process.poll() is None and b.process.poll() is None  # never restarted

    print(f"\n[topology] chroma + 2 replicas ready in {ready_s:.1f} s; "
          f"whole scenario {time.monotonic() - started:.1f} s")
