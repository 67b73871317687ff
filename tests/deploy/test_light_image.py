"""The light image's Python path: the assistant server and `tenor ingest` run with torch,
transformers and sentence-transformers unimportable, on the ONNX embedder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_DOCS

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent


def _torchless_env(home: Path, onnx_dir: Path) -> dict:
    return {**os.environ, "TENOR_HOME": str(home), "TENOR_EMBED__BACKEND": "onnx",
            "TENOR_EMBED__ONNX_PATH": str(onnx_dir),
            "PYTHONPATH": os.pathsep.join([str(HERE / "torchless"), os.environ.get("PYTHONPATH", "")])}


def test_the_blocker_really_blocks_torch(tmp_path, onnx_embedder_dir):
    result = subprocess.run([sys.executable, "-c", "import torch"], env=_torchless_env(tmp_path, onnx_embedder_dir),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "light image has no torch" in result.stderr


def test_ingest_cli_runs_without_torch(tmp_path, onnx_embedder_dir):
    env = _torchless_env(tmp_path, onnx_embedder_dir)
    result = subprocess.run([sys.executable, "-m", "tenor.cli", "ingest", str(SAMPLE_DOCS), "--collection",
                             "larkfield", "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["added"] == 10 and summary["failed"] == 0


def test_server_path_runs_without_torch(tmp_path, onnx_embedder_dir):
    """The real app (auth, retrieval, uploads, health) in a torch-free process; vLLM is absent,
    so /ready says so and chat answers 503, as a replica without its engine should."""
    script = textwrap.dedent(f"""
        import json, sys
        from fastapi.testclient import TestClient
        from assistant.app import create_app
        from assistant.engine import Engine
        from ingest.pipeline import ingest_paths
        from tenor.config import load_settings

        settings = load_settings().model_copy(update={{"api_keys": []}})
        settings = settings.model_validate({{**settings.model_dump(), "api_keys": [{{"key": "light-admin-01", "scope": "admin"}}]}})
        ingest_paths(settings, [{str(SAMPLE_DOCS)!r}], "default")
        app = create_app(settings, engine=Engine("http://127.0.0.1:9"))  # nothing listens there
        auth = {{"Authorization": "Bearer light-admin-01"}}
        out = {{}}
        with TestClient(app) as client:
            out["health"] = client.get("/health").status_code
            ready = client.get("/ready")
            out["ready"] = [ready.status_code, ready.json()["checks"]]
            hits = client.post("/v1/retrieve", json={{"query": "How long is the battery warranty?"}}, headers=auth).json()
            out["top"] = hits["data"][0]["document_id"]
            up = client.post("/v1/documents", headers=auth,
                             files={{"file": ("tandem.md", b"# Tandem T9\\n\\nThe Tandem T9 costs $4,321.", "text/markdown")}})
            out["upload"] = up.status_code
            hits = client.post("/v1/retrieve", json={{"query": "price of the Tandem T9"}}, headers=auth).json()
            out["top_after"] = hits["data"][0]["document_id"]
            chat = client.post("/v1/chat/completions", headers=auth,
                               json={{"messages": [{{"role": "user", "content": "How long is the battery warranty?"}}]}})
            out["chat"] = chat.status_code
        out["embedder"] = type(app.state.index_for("default").embedder).__name__
        out["heavy"] = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers", "sentence_transformers"))
        print(json.dumps(out))
    """)
    result = subprocess.run([sys.executable, "-c", script], env=_torchless_env(tmp_path, onnx_embedder_dir),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["embedder"] == "OnnxEmbedder" and out["heavy"] == []
    assert out["health"] == 200
    assert out["ready"][0] == 503 and out["ready"][1]["vllm"] == "unavailable" and out["ready"][1]["index"] == "ok"
    assert out["top"] == "warranty.pdf"
    assert out["upload"] == 201 and out["top_after"] == "tandem.md"
    assert out["chat"] == 503
