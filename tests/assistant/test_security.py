"""Access and logging: scopes on every admin route, constant-time key checks, request ids,
and logs that never hold a key or a message."""

import logging
import re

from tests.assistant.conftest import ADMIN_KEY, BASE_ONLY_KEY, CHAT_KEY, admin, chat_key
from tests.assistant.test_errors_auth import assert_error

SECRET = "my-card-number-is-4111-1111-1111-1111"


def admin_routes(app) -> list[tuple[str, str]]:
    """Every (method, path) whose handler depends on the admin scope, found from the app itself."""
    from assistant.deps import admin as admin_dep

    def needs_admin(dependant) -> bool:
        return any(d.call is admin_dep or needs_admin(d) for d in dependant.dependencies)

    found = []
    for route in app.routes:
        dependant = getattr(route, "dependant", None)
        if dependant is not None and needs_admin(dependant):
            for method in sorted(route.methods - {"HEAD"}):
                found.append((method, route.path_format.replace("{document_id}", "warranty.pdf")))
    return found


def test_chat_keys_get_403_on_every_admin_route(client):
    routes = admin_routes(client.app)
    assert {("POST", "/v1/documents"), ("DELETE", "/v1/documents/warranty.pdf"), ("POST", "/v1/documents/reindex"),
            ("POST", "/v1/admin/adapters"), ("GET", "/v1/admin/adapters"), ("POST", "/v1/admin/adapters/promote"),
            ("POST", "/v1/admin/adapters/rollback")} <= set(routes)
    for method, path in routes:
        for key in (CHAT_KEY, BASE_ONLY_KEY):
            r = client.request(method, path, headers={"Authorization": f"Bearer {key}"},
                               json={"path": "/", "name": "x", "path_": "/"})
            assert_error(r, 403, "permission_error")
        assert_error(client.request(method, path), 401)
    assert client.get("/v1/documents/warranty.pdf", headers=admin()).status_code == 200  # still there


def test_key_check_uses_compare_digest_on_every_key(monkeypatch):
    """Constant time: hmac.compare_digest on fixed-size digests, and no early exit on a match."""
    import assistant.auth as auth
    from tenor.config import ApiKey

    calls = []
    real = auth.hmac.compare_digest

    def counting(a, b):
        calls.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", counting)
    store = auth.KeyStore([ApiKey(key=f"key-number-{i:04}") for i in range(5)])
    for presented in ("key-number-0000", "key-number-0004", "short", "x" * 500):
        calls.clear()
        store.lookup(presented)
        assert len(calls) == 5  # every key compared, whether the first, the last or none matches
        assert set(calls) == {(32, 32)}  # digests: the length of the presented key does not leak either


def test_request_id_is_echoed_or_made(client):
    r = client.get("/health", headers={"X-Request-ID": "support-ticket-42.a:b"})
    assert r.headers["x-request-id"] == "support-ticket-42.a:b"
    made = client.get("/health").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    hostile = client.get("/health", headers={"X-Request-ID": "x\" injected=1 " + "y" * 300})
    assert re.fullmatch(r"[0-9a-f]{32}", hostile.headers["x-request-id"])  # not echoed into logs or headers
    assert client.get("/v1/nothing", headers=admin()).headers["x-request-id"]  # errors carry one too


def _all_logs(caplog) -> str:
    return "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)


def test_requests_are_logged_with_id_and_without_keys_or_messages(client, caplog):
    caplog.set_level(logging.DEBUG)
    body = {"model": "larkfield", "messages": [{"role": "user", "content": f"How long is the warranty? {SECRET}"}]}
    r = client.post("/v1/chat/completions?x=1", headers=admin({"X-Request-ID": "trace-123"}), json=body)
    assert r.status_code == 200
    assert client.post("/v1/chat/completions", headers=admin(), json={**body, "stream": True}).status_code == 200
    client.get("/v1/models", headers={"Authorization": "Bearer wrong-key-but-secret-999"})
    client.post("/v1/chat/completions", headers=chat_key(), json={**body, "temperature": 99})  # a 400 names a param

    lines = [rec.getMessage() for rec in caplog.records if rec.name == "tenor.request"]
    ours = [line for line in lines if "request_id=trace-123" in line]
    assert len(ours) == 1
    assert "method=POST path=/v1/chat/completions status=200" in ours[0] and "x=1" not in ours[0]
    assert any("status=401" in line for line in lines) and any("status=400" in line for line in lines)
    logs = _all_logs(caplog)
    for secret in (ADMIN_KEY, CHAT_KEY, "wrong-key-but-secret-999", SECRET, "How long is the warranty"):
        assert secret not in logs


def test_request_bodies_are_logged_only_when_asked(make_client, caplog):
    caplog.set_level(logging.INFO, logger="tenor.request")
    client = make_client(server={"log_request_bodies": True})
    client.post("/v1/chat/completions", headers=admin(),
                json={"model": "larkfield", "messages": [{"role": "user", "content": SECRET}]})
    logs = _all_logs(caplog)
    assert SECRET in logs and ADMIN_KEY not in logs  # the body yes (asked for), the key never


def test_a_failing_request_logs_no_key_either(make_client, caplog):
    """An unexpected error logs its traceback, but not the request's headers."""
    caplog.set_level(logging.DEBUG)
    client = make_client()

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    client.app.state.chat.ground = boom
    r = client.post("/v1/chat/completions", headers=admin(),
                    json={"model": "larkfield", "messages": [{"role": "user", "content": SECRET}]})
    assert_error(r, 500)
    logs = _all_logs(caplog)
    assert "boom" in logs and ADMIN_KEY not in logs and SECRET not in logs
    rid = r.headers["x-request-id"]  # the client can quote it; the log line and the traceback carry it
    assert f"request_id={rid} method=POST path=/v1/chat/completions status=500" in logs
    assert f"(request_id={rid})" in logs
