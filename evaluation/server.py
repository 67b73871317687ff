"""A Tenor server for the eval to talk to: the one at ``--url``, or one started here."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import httpx

from evaluation.runner import EvalError
from tenor.net import free_port
from tenor.processes import die_with_parent


def serve_command(port: int) -> list[str]:
    return [sys.executable, "-m", "tenor.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--no-auth"]


@contextmanager
def started_server(log: Path, timeout_s: float = 900,
                   command: Callable[[int], list[str]] = serve_command) -> Iterator[str]:
    """`tenor serve --no-auth` on a free loopback port (with its managed vLLM),
    ready when ``/ready`` answers 200; stopped with SIGTERM afterwards, also when this
    process is stopped with SIGTERM (``kill``, a CI timeout) and, by the kernel, when it is
    killed outright (SIGKILL, the OOM killer), so no server outlives the eval and keeps
    restarting vLLM. ``command``: port -> the command line."""
    port = free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _stopped) if on_main_thread else None
    process = None
    try:
        with log.open("ab") as sink:
            process = subprocess.Popen(command(port), stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                                       env=os.environ.copy(), preexec_fn=die_with_parent())
        url = f"http://127.0.0.1:{port}"
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
        if on_main_thread:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the cleanup short
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        if on_main_thread:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _stopped(signum, frame) -> None:
    raise SystemExit(128 + signum)  # unwinds through started_server's finally, which stops the server
