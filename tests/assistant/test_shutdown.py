"""Graceful shutdown of a real `tenor serve` process: SIGTERM drains in-flight streams (up to
``server.drain_timeout_s``), stops the managed vLLM, and the process exits 0.

The managed "vLLM" here is the fake one (tests/assistant/fake_vllm.py, streaming slowly), run
by Tenor's own supervisor in place of the real command, so the test takes seconds; the real
vLLM goes through the same ``VllmProcess.stop`` (the session's ``tenor_server`` fixture stops
it with SIGTERM the same way).
"""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest
import yaml

from tests.assistant.conftest import ADMIN_KEY
from tests.assistant.fake_vllm import free_port
from tests.conftest import EXAMPLES

FAKE = Path(__file__).with_name("fake_vllm.py")
WRAPPER = """
import sys
from assistant.vllm_process import VllmProcess
VllmProcess.command = lambda self: [sys.executable, {fake!r}, "--port", str(self.port), "--delay-s", {delay!r}]
from tenor.cli import app
sys.argv = ["tenor", "serve"]
app()
"""
QUESTION = {"model": "larkfield", "stream": True, "retrieval": False,
            "messages": [{"role": "user", "content": "Tell me one two three four five six seven eight"}]}


def start_serve(home: Path, delay_s: float, drain_timeout_s: float):
    (home / "models" / "smollm2-135m-instruct").mkdir(parents=True)
    adapter = home / "adapters" / "larkfield-voice"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text('{"r": 8}')
    config = yaml.safe_load((EXAMPLES / "tenor.yaml").read_text())
    port = free_port()
    config.update(api_keys=[{"key": ADMIN_KEY, "scope": "admin"}],
                  server={"port": port, "drain_timeout_s": drain_timeout_s},
                  vllm={"port": free_port(), "start_timeout_s": 60})
    (home / "config.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "TENOR_HOME": str(home), "TENOR_CONFIG": str(home / "config.yaml")}
    log = (home / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-c", WRAPPER.format(fake=str(FAKE), delay=str(delay_s))],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        assert proc.poll() is None, (home / "serve.log").read_text()
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, (home / "serve.log").read_text()
        time.sleep(0.3)
    (vllm,) = [c for c in psutil.Process(proc.pid).children() if "fake_vllm.py" in " ".join(c.cmdline())]
    return proc, url, vllm


class Stream(threading.Thread):
    """One streaming chat request, read to its end in the background."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url = url
        self.lines: list[str] = []
        self.first = threading.Event()
        self.error: Exception | None = None

    def run(self):
        try:
            with httpx.stream("POST", f"{self.url}/v1/chat/completions", json=QUESTION, timeout=60,
                              headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as response:
                for line in response.iter_lines():
                    if line:
                        self.lines.append(line)
                    if '"content":"' in line and '"content":""' not in line:
                        self.first.set()
        except httpx.HTTPError as exc:
            self.error = exc
        finally:
            self.first.set()


def stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def test_sigterm_drains_the_stream_stops_vllm_and_exits_0(tmp_path):
    proc, url, vllm = start_serve(tmp_path / "home", delay_s=0.4, drain_timeout_s=30)
    try:
        stream = Stream(url)
        stream.start()
        assert stream.first.wait(30) and not stream.error
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        with pytest.raises(httpx.ConnectError):  # no new connections while draining
            httpx.get(f"{url}/health", timeout=2)
        assert stream.is_alive()  # ... but the stream in flight goes on
        assert proc.wait(30) == 0
        stopped_after = time.monotonic() - sent
        stream.join(5)
        assert stream.error is None, stream.error
        assert stream.lines[-1] == "data: [DONE]" and '"finish_reason":"stop"' in stream.lines[-2]
        text = "".join(line for line in stream.lines)
        assert "eight" in text  # the whole answer arrived
        assert stopped_after > 1.0  # it really waited for the stream (8+ words at 0.4 s)
        assert not vllm.is_running() or vllm.status() == psutil.STATUS_ZOMBIE  # the managed vLLM is stopped
        log = (tmp_path / "home" / "logs" / "vllm.log").read_text()
        assert "stopping vLLM" in log
    finally:
        stop(proc)


def test_drain_timeout_bounds_the_wait_and_still_exits_0(tmp_path):
    proc, url, vllm = start_serve(tmp_path / "home", delay_s=3.0, drain_timeout_s=1)
    try:
        stream = Stream(url)
        stream.start()
        assert stream.first.wait(30)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        assert time.monotonic() - sent < 15  # not the ~30 s the answer would take
        stream.join(10)
        assert "data: [DONE]" not in stream.lines  # cut off at the deadline
        assert not vllm.is_running() or vllm.status() == psutil.STATUS_ZOMBIE
    finally:
        stop(proc)
