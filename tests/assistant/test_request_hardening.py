"""What a caller's request cannot do: break the server with invalid Unicode, read /metrics without a key,
learn profile names it may not use, or get a huge error body back. (Widget keys: test_widget_api.py.)"""

import json

import httpx
import pytest

from tests.assistant.conftest import BASE_ONLY_KEY, admin, chat_key
from tests.assistant.test_errors_auth import Q, assert_error

SURROGATE = "\ud800"  # a lone surrogate: JSON can carry it ("\ud800"), UTF-8 cannot


def raw_json(body: dict) -> bytes:
    return json.dumps(body).encode()  # ensure_ascii: the surrogate travels as the escape \ud800


@pytest.mark.parametrize("path, body", [
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": f"warranty {SURROGATE}"}]}),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": f"warranty {SURROGATE}"}], "stream": True}),
    ("/v1/chat/completions", {"messages": [{"role": "system", "content": SURROGATE},
                                           {"role": "user", "content": "How long is the frame warranty?"}]}),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": [{"type": "text", "text": SURROGATE}]}]}),
    ("/v1/chat/completions", {**Q, "filters": {"document_id": SURROGATE}}),
    ("/v1/retrieve", {"query": f"warranty {SURROGATE}"}),
    ("/v1/retrieve", {"messages": [{"role": "user", "content": SURROGATE}]}),
], ids=["chat", "stream", "system", "content-part", "filter", "retrieve-query", "retrieve-messages"])
def test_lone_surrogate_is_a_400_not_a_500(client, path, body):
    r = client.post(path, headers=admin({"Content-Type": "application/json"}), content=raw_json(body))
    err = assert_error(r, 400, "invalid_request_error")
    assert "not valid Unicode" in err["message"]


def test_metrics_need_an_admin_key(client):
    assert_error(client.get("/metrics"), 401)
    assert_error(client.get("/metrics", headers=chat_key()), 403)
    r = client.get("/metrics", headers=admin())
    assert r.status_code == 200 and "tenor_requests_total" in r.text


def test_metrics_port_serves_them_without_a_key(make_client):
    client = make_client(server={"metrics_port": 0})
    client.post("/v1/chat/completions", headers=admin(), json=Q)
    port = client.app.state.metrics_port
    r = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert r.status_code == 200
    assert 'tenor_requests_total{method="POST",route="/v1/chat/completions",status="200"} 1.0' in r.text
    assert_error(client.get("/metrics"), 401)  # still not on the API port


def test_unknown_model_names_only_the_profiles_the_key_may_use(client):
    headers = {"Authorization": f"Bearer {BASE_ONLY_KEY}"}
    err = assert_error(client.post("/v1/chat/completions", headers=headers, json={**Q, "model": "gpt-4"}), 404)
    assert "larkfield-base" in err["message"]
    assert "'larkfield'" not in err["message"] and "larkfield," not in err["message"]
    assert "larkfield-base" in assert_error(client.get("/v1/models/gpt-4", headers=headers), 404)["message"]
    assert "larkfield, larkfield-base" in assert_error(
        client.get("/v1/models/gpt-4", headers=admin()), 404)["message"]


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/retrieve"])
def test_filter_error_does_not_echo_the_whole_filter(client, path):
    values = [f"doc-{i}.md" for i in range(100_000)]
    body = {**Q, "query": "warranty", "filters": {"document_id": {"$in": values, "$bogus": 1}}}
    r = client.post(path, headers=admin(), json=body)
    err = assert_error(r, 400)
    assert err["param"] == "filters" and "invalid filters" in err["message"]
    assert len(r.content) < 2_000, len(r.content)
