"""Fixtures shared by every test tier. Nothing here may reach a model hub."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "larkfield"
SAMPLE_DOCS = EXAMPLES / "docs"
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture
def tenor_home(tmp_path, monkeypatch) -> Path:
    """A fresh data directory, with TENOR_HOME pointing at it and no config file."""
    home = tmp_path / "tenor-home"
    home.mkdir()
    monkeypatch.setenv("TENOR_HOME", str(home))
    monkeypatch.delenv("TENOR_CONFIG", raising=False)
    return home


@pytest.fixture
def settings(tenor_home):
    from tenor.config import load_settings

    return load_settings()


@pytest.fixture(scope="session")
def shared_home(tmp_path_factory) -> Path:
    """A data directory shared by a whole session (prepared models live here once)."""
    return tmp_path_factory.mktemp("tenor-shared-home")


@pytest.fixture(scope="session")
def prepared_base_model(shared_home) -> Path:
    """The real SmolLM2-135M-Instruct, converted once per test session."""
    from finetune.base_model import prepare_base_model
    from tenor.config import Settings

    return prepare_base_model(Settings(home=shared_home))


@pytest.fixture(scope="session")
def onnx_embedder_dir(shared_home) -> Path:
    """The default embedding model exported to ONNX once per session (`tenor model export-embedder`),
    under shared_home/models, where ``embed.backend: onnx`` finds it by default."""
    from ingest.onnx_embedder import default_onnx_dir
    from ingest.onnx_export import export_embedder
    from tenor.config import Settings

    settings = Settings(home=shared_home)
    folder = default_onnx_dir(settings.embed, settings.models_dir)
    if not (folder / "model.onnx").is_file():
        export_embedder(settings.embed, folder)
    return folder


# The real-server tier (`tenor serve` + vLLM), reusable by every test package.
pytest_plugins = ["tests.vllm_fixtures"]
