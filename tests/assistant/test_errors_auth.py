"""Every error is OpenAI's error object with the right status; keys have scopes."""

import pytest

from tests.assistant.conftest import BASE_ONLY_KEY, admin, chat_key

Q = {"messages": [{"role": "user", "content": "How long is the frame warranty?"}]}


def assert_error(response, status, type_=None):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert {"message", "type", "param", "code"} <= set(body["error"])
    assert body["error"]["message"]
    assert "Traceback" not in response.text
    if type_:
        assert body["error"]["type"] == type_
    return body["error"]


def test_missing_key_is_401(client):
    assert_error(client.post("/v1/chat/completions", json=Q), 401, "authentication_error")


def test_wrong_key_is_401(client):
    r = client.get("/v1/models", headers={"Authorization": "Bearer nope-nope-nope"})
    assert_error(r, 401)
    assert r.headers["www-authenticate"] == "Bearer"


def test_chat_key_cannot_use_admin_endpoints(client):
    assert_error(client.get("/v1/documents", headers=chat_key()), 403, "permission_error")
    assert_error(client.post("/v1/admin/adapters", headers=chat_key(), json={"name": "a", "path": "/x"}), 403)


def test_key_limited_to_a_profile_gets_403_on_another(client):
    headers = {"Authorization": f"Bearer {BASE_ONLY_KEY}"}
    assert_error(client.post("/v1/chat/completions", headers=headers, json={**Q, "model": "larkfield"}), 403)
    assert client.post("/v1/chat/completions", headers=headers, json={**Q, "model": "larkfield-base"}).status_code == 200
    assert [m["id"] for m in client.get("/v1/models", headers=headers).json()["data"]] == ["larkfield-base"]


def test_key_with_origins_refuses_other_origins(client):
    assert_error(client.get("/v1/models", headers=chat_key({"Origin": "https://evil.example"})), 403)
    ok = client.get("/v1/models", headers=chat_key({"Origin": "https://shop.example"}))
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "https://shop.example"


def test_cors_preflight_for_an_allowed_origin(client):
    r = client.options("/v1/chat/completions", headers={
        "Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "https://shop.example"


def test_unknown_model_is_404(client):
    err = assert_error(client.post("/v1/chat/completions", headers=admin(), json={**Q, "model": "gpt-4"}), 404)
    assert err["code"] == "model_not_found" and err["param"] == "model"


def test_invalid_json_is_400_not_422(client):
    r = client.post("/v1/chat/completions", headers=admin({"Content-Type": "application/json"}), content=b"{not json")
    assert_error(r, 400, "invalid_request_error")


@pytest.mark.parametrize("body, param", [
    ({"messages": "hello"}, "messages"),
    ({"messages": [{"role": "user", "content": "hi"}], "temperature": 9}, "temperature"),
    ({}, "messages"),
])
def test_invalid_fields_are_400_with_the_param(client, body, param):
    err = assert_error(client.post("/v1/chat/completions", headers=admin(), json=body), 400)
    assert err["param"].startswith(param)


def test_oversize_body_is_413(make_client):
    client = make_client(server={"max_body_bytes": 2000})
    big = {"messages": [{"role": "user", "content": "x" * 5000}]}
    assert_error(client.post("/v1/chat/completions", headers=admin(), json=big), 413)


def test_oversize_streamed_body_is_413(make_client):
    client = make_client(server={"max_body_bytes": 2000})

    def body():
        yield b'{"messages": [{"role": "user", "content": "'
        yield b"x" * 5000
        yield b'"}]}'

    r = client.post("/v1/chat/completions", headers=admin({"Content-Type": "application/json"}), content=body())
    assert_error(r, 413)


def test_max_tokens_beyond_the_context_is_400_from_vllm(client):
    r = client.post("/v1/chat/completions", headers=admin(), json={**Q, "max_tokens": 100000})
    assert "maximum context length" in assert_error(r, 400)["message"]


def test_vllm_down_is_503_with_retry_after(make_client):
    from tests.assistant.fake_vllm import free_port

    client = make_client(engine_url=f"http://127.0.0.1:{free_port()}")
    r = client.post("/v1/chat/completions", headers=admin(), json=Q)
    assert_error(r, 503)
    assert int(r.headers["retry-after"]) > 0
    ready = client.get("/ready")
    assert ready.status_code == 503 and ready.json()["checks"]["vllm"] == "unavailable"


def test_outage_answers_name_no_internal_address_or_path_and_the_log_has_them(indexed_home, caplog):
    """/ready needs no key, and a 503 reaches every caller: neither shows where vLLM or the index lives."""
    import logging

    from fastapi.testclient import TestClient

    from assistant.app import create_app
    from assistant.engine import Engine
    from ingest.index import IndexUnavailable
    from tests.assistant.conftest import sample_settings
    from tests.assistant.fake_vllm import free_port

    secret_path = "/srv/secret-volume/index"
    vllm_url = f"http://127.0.0.1:{free_port()}"

    class IndexDown:
        embedder = None

        def ping(self, *args, **kwargs):
            raise IndexUnavailable(f"cannot open the Chroma index at {secret_path}: disk I/O error")

        search = lexical_index = ping

    app = create_app(sample_settings(indexed_home), engine=Engine(vllm_url), index_for=lambda name: IndexDown())
    caplog.set_level(logging.WARNING, logger="tenor")
    with TestClient(app, raise_server_exceptions=False) as client:
        answers = [
            client.get("/ready"),
            client.post("/v1/chat/completions", headers=admin(), json={**Q, "model": "larkfield"}),
            client.post("/v1/chat/completions", headers=admin(), json={**Q, "model": "larkfield", "retrieval": False}),
            client.post("/v1/chat/completions", headers=admin(),
                        json={**Q, "model": "larkfield", "retrieval": False, "stream": True}),
            client.post("/v1/retrieve", headers=admin(), json={"model": "larkfield", "query": "warranty"}),
        ]
    assert answers[0].status_code == 503 and answers[0].json()["checks"] == {"vllm": "unavailable",
                                                                              "index": "unavailable"}
    for r in answers[1:]:
        assert_error(r, 503)
    for r in answers:
        assert secret_path not in r.text and vllm_url not in r.text and "127.0.0.1" not in r.text, r.text
    assert secret_path in caplog.text and vllm_url in caplog.text  # the operator still learns why


def test_unknown_path_and_method_are_openai_errors(client):
    assert_error(client.get("/v1/nothing-here", headers=admin()), 404)
    assert_error(client.get("/v1/chat/completions", headers=admin()), 405)


def test_no_auth_mode_lets_everyone_in(make_client):
    client = make_client(no_auth=True)
    assert client.get("/v1/documents").status_code == 200
    assert client.post("/v1/chat/completions", json=Q).status_code == 200


def test_without_configured_keys_an_admin_key_is_generated_and_reused(make_client, tmp_path):
    from assistant.auth import read_generated_key

    client = make_client(home=tmp_path / "h", api_keys=[])
    key = read_generated_key(type("S", (), {"home": tmp_path / "h"}))
    assert key and (tmp_path / "h" / "admin.key").stat().st_mode & 0o077 == 0
    assert client.get("/v1/models").status_code == 401
    assert client.get("/v1/models", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    make_client(home=tmp_path / "h", api_keys=[])
    assert read_generated_key(type("S", (), {"home": tmp_path / "h"})) == key


def test_key_lookup_compares_every_key():
    from assistant.auth import KeyStore
    from tenor.config import ApiKey

    store = KeyStore([ApiKey(key="first-key-0001"), ApiKey(key="second-key-002", scope="admin")])
    assert store.lookup("second-key-002").scope == "admin"
    assert store.lookup("second-key-003") is None
