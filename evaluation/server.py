"""A Tenor server for the eval to talk to: the one at ``--url``, or one started here."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx

from evaluation.runner import EvalError
from tenor.net import free_port



@contextmanager
def started_server(log: Path, timeout_s: float = 900) -> Iterator[str]:
    """`tenor serve --no-auth` on a free loopback port (with its managed vLLM),
    ready when ``/ready`` answers 200; stopped with SIGTERM afterwards."""
    port = free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "tenor.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--no-auth"],
            stdout=sink, stderr=subprocess.STDOUT, env=os.environ.copy(),
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise EvalError(f"the server exited with code {process.returncode}; see {log}")
            try:
                if httpx.get(f"{url}/ready", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise EvalError(f"the server was not ready after {timeout_s:.0f}s; see {log}")
            time.sleep(2)
        yield url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
