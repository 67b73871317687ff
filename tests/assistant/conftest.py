"""Fixtures for the assistant's unit tier: a fake vLLM on a real port, a real index of the sample docs."""

from __future__ import annotations

import shutil

import pytest

from tenor.config import load_settings
from tests.assistant.fake_vllm import FakeVllm
from tests.conftest import EXAMPLES, SAMPLE_DOCS

ADMIN_KEY = "admin-key-123456"
CHAT_KEY = "chat-key-123456"
BASE_ONLY_KEY = "base-only-key-123"


@pytest.fixture(scope="session")
def fake_vllm():
    fake = FakeVllm().start()
    yield fake
    fake.stop()


def sample_settings(home, **overrides):
    """The Larkfield sample config, with its data under ``home`` and test keys."""
    environ = {"TENOR_HOME": str(home)}
    settings = load_settings(EXAMPLES / "tenor.yaml", environ=environ)
    data = settings.model_dump()
    data["api_keys"] = [
        {"key": ADMIN_KEY, "scope": "admin", "name": "admin"},
        {"key": CHAT_KEY, "scope": "chat", "name": "chat", "origins": ["https://shop.example"]},
        {"key": BASE_ONLY_KEY, "scope": "chat", "profiles": ["larkfield-base"], "name": "base-only"},
    ]
    for key, value in overrides.items():
        data[key] = value
    return type(settings).model_validate(data)


@pytest.fixture(scope="session")
def indexed_home(tmp_path_factory):
    """A data directory whose 'larkfield' collection holds the sample documents."""
    from ingest.pipeline import ingest_paths

    home = tmp_path_factory.mktemp("assistant-home")
    summary = ingest_paths(sample_settings(home), [SAMPLE_DOCS], "larkfield")
    assert summary.failed == 0
    return home


@pytest.fixture
def make_client(indexed_home, fake_vllm, tmp_path):
    """A TestClient on a fresh app (fake vLLM engine, the shared index). Call with overrides."""
    from fastapi.testclient import TestClient

    from assistant.app import create_app
    from assistant.engine import Engine

    clients = []

    def make(no_auth: bool = False, engine_url: str | None = None, home=None, **overrides):
        settings = sample_settings(home or indexed_home, **overrides)
        app = create_app(settings, no_auth=no_auth, engine=Engine(engine_url or fake_vllm.url))
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client):
    return make_client()


@pytest.fixture
def private_home(tmp_path):
    """A data directory of its own (for tests that change documents)."""
    from ingest.pipeline import ingest_paths

    home = tmp_path / "home"
    docs = tmp_path / "docs"
    shutil.copytree(SAMPLE_DOCS, docs)
    ingest_paths(sample_settings(home), [docs], "larkfield")
    return home, docs


def admin(headers: dict | None = None) -> dict:
    return {"Authorization": f"Bearer {ADMIN_KEY}", **(headers or {})}


def chat_key(headers: dict | None = None) -> dict:
    return {"Authorization": f"Bearer {CHAT_KEY}", **(headers or {})}
