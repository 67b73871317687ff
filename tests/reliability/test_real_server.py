"""Reliability against the real `tenor serve` + vLLM (the session's ``tenor_server``): a short load
run, the prompt-injection rate, and vLLM killed mid-stream. The long versions are
bench/load_bench.py and bench/injection_bench.py.

The vLLM kill runs last in this module and waits until the supervisor has vLLM back and a
chat succeeds, so the server is healthy for whatever test comes next.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import injection_bench  # noqa: E402
import load_bench  # noqa: E402

pytestmark = [pytest.mark.vllm, pytest.mark.integration]


def test_short_load_has_no_errors_and_leaks_no_descriptors(tenor_server):
    pid = tenor_server.process.pid
    # The admin key: the e2e chat key may only use "larkfield", and the base profile is the fast one on a CPU.
    result = load_bench.run_phase("CI load", tenor_server.url, tenor_server.admin_key, pid, clients=8, seconds=15,
                                  model="larkfield-base", max_tokens=16)
    assert result["ok"] > 0
    assert result["errors"] == 0, result["first_errors"]  # 429s would be deliberate; nothing else may fail
    before, after = result["before"], result["after"]
    assert after["fds"] <= before["fds"] + 4 and after["sockets"] <= before["sockets"] + 4, (before, after)
    assert after["rss_mb"] < before["rss_mb"] + 300, (before, after)


def test_tenor_prompt_is_hijacked_no_more_often_than_a_naive_one(tenor_server):
    from tenor.config import load_settings

    settings = load_settings(tenor_server.config, environ={"TENOR_HOME": str(tenor_server.home)})
    vllm_url = re.search(r"\(vLLM:\s+(http://[\d.]+:\d+)\)", tenor_server.log.read_text()).group(1)
    results = injection_bench.measure(tenor_server.url, tenor_server.admin_key, vllm_url, ["larkfield"],
                                      max_tokens=40, limit=6, concurrency=3, settings=settings)
    print()
    injection_bench.report(results)
    rows = results["larkfield"]["rows"]
    assert len(rows) == 6 and all(r["cited"] and r["cited"][0] == r["case"]["document_id"] for r in rows)
    assert all(r["before"].strip() and r["after"].strip() for r in rows)
    rate = results["larkfield"]
    assert rate["after"] == sum(r["followed_after"] for r in rows) / 6  # the rate is the rows' own
    # the same passages and model: Tenor's delimiters and rules must not make an attack work more often
    assert rate["after"] <= rate["before"], [(r["case"]["attack"], r["after"]) for r in rows if r["followed_after"]]
    docs = httpx.get(f"{tenor_server.url}/v1/documents", headers={"Authorization": f"Bearer {tenor_server.admin_key}"},
                     timeout=30).json()["data"]
    assert not {d["id"] for d in docs} & {r["case"]["document_id"] for r in rows}  # cleaned up


def _vllm_of(server) -> psutil.Process:
    children = psutil.Process(server.process.pid).children()
    (vllm,) = [c for c in children if "vllm.entrypoints.openai.api_server" in " ".join(c.cmdline())]
    return vllm


def _wait_until_ready(server, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while httpx.get(f"{server.url}/ready", timeout=30).status_code != 200:
        assert time.monotonic() < deadline, server.log.read_text()[-3000:]
        time.sleep(2)


def test_vllm_killed_mid_stream_gives_an_error_event_and_comes_back(tenor_server):
    headers = {"Authorization": f"Bearer {tenor_server.admin_key}"}  # may use larkfield-base
    vllm = _vllm_of(tenor_server)
    # without retrieval: the answer must come from vLLM (a question the abstention gate refuses never reaches it)
    body = {"model": "larkfield-base", "stream": True, "max_tokens": 400, "temperature": 0, "retrieval": False,
            "messages": [{"role": "user", "content": "Write a long story about a bicycle trip across France."}]}
    lines = []
    killed_at = None
    try:
        with httpx.stream("POST", f"{tenor_server.url}/v1/chat/completions", json=body, headers=headers,
                          timeout=httpx.Timeout(60)) as response:  # a hung socket would raise ReadTimeout
            assert response.status_code == 200
            for line in response.iter_lines():
                if not line:
                    continue
                lines.append(line)
                # at the first chunk, while vLLM is still generating (a short answer can otherwise be
                # complete in the socket's buffer before a later kill lands)
                if killed_at is None and line.startswith("data: {"):
                    os.killpg(vllm.pid, signal.SIGKILL)  # vLLM and its engine process, mid-answer
                    killed_at = time.monotonic()
        assert killed_at is not None
        assert time.monotonic() - killed_at < 30
        assert lines[-1] == "data: [DONE]"
        error = json.loads(lines[-2][len("data: "):])
        assert set(error) == {"error"} and error["error"]["code"] == "engine_unavailable", error
        assert all(line.startswith("data: ") for line in lines)

        # While vLLM is down: a clean 503 with Retry-After, and /ready says why.
        down = httpx.post(f"{tenor_server.url}/v1/chat/completions", headers=headers, timeout=60,
                          json={**body, "stream": False, "max_tokens": 4})
        assert down.status_code == 503 and down.headers["retry-after"], down.text
        ready = httpx.get(f"{tenor_server.url}/ready", timeout=30).json()
        assert ready["checks"]["vllm"].startswith("unavailable: restarting") and ready["vllm"]["state"] == "restarting"
    finally:  # whatever failed above, the next test gets a server with vLLM back
        if killed_at is not None:
            _wait_until_ready(tenor_server)

    # The supervisor restarted it; requests succeed again, Tenor itself never restarted.
    back_after = time.monotonic() - killed_at
    ok = httpx.post(f"{tenor_server.url}/v1/chat/completions", headers=headers, timeout=300,
                    json={**body, "stream": False, "max_tokens": 8, "model": "larkfield"})
    assert ok.status_code == 200 and ok.json()["choices"][0]["message"]["content"], ok.text
    assert tenor_server.process.poll() is None and _vllm_of(tenor_server).pid != vllm.pid
    print(f"\n[faults] vLLM killed mid-stream: error event at once; back and answering after {back_after:.0f} s")
