"""vLLM failing after a stream started: the client gets a well-formed SSE error event, then the end.

Here the fake vLLM fails (fast); tests/reliability/test_real_server.py kills the real
vLLM mid-stream and checks the same frames, then that the supervisor brings it back.
"""

import json

import httpx
import pytest

from tests.assistant.conftest import admin
from tests.assistant.fake_vllm import FakeVllm

Q = {"model": "larkfield", "stream": True, "messages": [{"role": "user", "content": "How long is the frame warranty?"}]}


@pytest.fixture(scope="module")
def flaky_vllm():
    fake = FakeVllm().start()
    yield fake
    fake.stop()


@pytest.fixture
def flaky(flaky_vllm):
    yield flaky_vllm.app.state
    flaky_vllm.app.state.break_after = None
    flaky_vllm.app.state.garbage_after = None


def frames(text: str) -> list[str]:
    assert text.endswith("\n\n"), text[-200:]
    parts = text.split("\n\n")[:-1]
    assert all(p.startswith("data: ") and "\n" not in p for p in parts), parts
    return [p[len("data: "):] for p in parts]


def assert_ends_with_error_event(text: str) -> dict:
    data = frames(text)
    assert data[-1] == "[DONE]"
    error = json.loads(data[-2])
    assert set(error) == {"error"} and {"message", "type", "param", "code"} <= set(error["error"])
    assert error["error"]["type"] == "service_unavailable" and error["error"]["code"] == "engine_unavailable"
    assert all("error" not in json.loads(d) for d in data[:-2])  # content chunks before it, untouched
    return error["error"]


@pytest.mark.parametrize("policy", ["off", "strict"])
def test_vllm_dying_mid_stream_gives_an_error_event_not_a_hung_socket(make_client, flaky_vllm, flaky, policy):
    client = make_client(engine_url=flaky_vllm.url)
    client.app.state.settings.profiles["larkfield"].answer_policy = policy
    flaky.break_after = 2
    r = client.post("/v1/chat/completions", headers=admin(), json=Q)
    assert r.status_code == 200  # the headers were already sent
    error = assert_ends_with_error_event(r.text)
    assert "broke off" in error["message"]
    content = [json.loads(d) for d in frames(r.text)[:-2]]
    if policy == "off":  # relayed live: the client got the start of the answer and its sources
        assert content[0]["citations"]
    else:  # strict ships only checked text: nothing of the broken answer went out
        assert content == []
    flaky.break_after = None
    assert frames(client.post("/v1/chat/completions", headers=admin(), json=Q).text)[-1] == "[DONE]"


def test_malformed_chunk_from_vllm_ends_the_stream_cleanly(make_client, flaky_vllm, flaky):
    client = make_client(engine_url=flaky_vllm.url)
    flaky.garbage_after = 1
    error = assert_ends_with_error_event(client.post("/v1/chat/completions", headers=admin(), json=Q).text)
    assert "malformed" in error["message"]


def test_vllm_down_before_the_stream_is_a_503_not_a_stream(make_client):
    from tests.assistant.fake_vllm import free_port

    client = make_client(engine_url=f"http://127.0.0.1:{free_port()}")
    r = client.post("/v1/chat/completions", headers=admin(), json=Q)
    assert r.status_code == 503 and r.json()["error"]["code"] == "engine_unavailable"
    assert int(r.headers["retry-after"]) > 0


def test_engine_error_chunk_from_vllm_becomes_an_openai_error_event():
    """vLLM itself may send ``data: {"error": ...}`` after the stream started."""
    import asyncio

    from assistant.engine import Engine, EngineUnavailable

    body = (b'data: {"choices": [{"index": 0, "delta": {"content": "Hi"}}]}\n\n'
            b'data: {"error": {"message": "engine dead", "code": 500}}\n\n')
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body,
                                                                   headers={"content-type": "text/event-stream"}))

    async def run():
        engine = Engine("http://vllm.invalid")
        engine.client = httpx.AsyncClient(base_url="http://vllm.invalid", transport=transport)
        got = []
        with pytest.raises(EngineUnavailable, match="engine dead"):
            async for chunk in await engine.stream_chat({"model": "m", "messages": []}):
                got.append(chunk)
        await engine.aclose()
        return got

    assert len(asyncio.run(run())) == 1
