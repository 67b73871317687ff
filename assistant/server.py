"""Run the assistant server: `tenor serve` and the quickstart call ``serve``.

    from assistant.server import serve
    serve(settings, host="127.0.0.1", port=8000, no_auth=False, on_ready=print)

``serve`` checks the configuration first (clear errors, no traceback), starts
the managed vLLM with progress lines on stderr (the log itself goes to
``$TENOR_HOME/logs/vllm.log``), then serves until Ctrl-C or SIGTERM, and stops
vLLM on the way out. On SIGTERM it stops accepting connections, lets in-flight
requests and streams finish for up to ``server.drain_timeout_s`` (then cancels
them), stops vLLM and returns normally, so `tenor serve` exits 0. ``on_ready(info)`` is called once the server accepts
requests, with a ``ServerInfo`` (url, key, key file).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
import threading
import time
from dataclasses import dataclass
from typing import Callable

from tenor.config import ConfigError, Settings

log = logging.getLogger("tenor.server")

# vLLM start-up lines worth showing (everything goes to the log file).
_MILESTONES = (
    ("Resolved architecture", "model config read"),
    ("Starting to load model", "loading weights"),
    ("Loading weights took", None),
    ("KV cache size", None),
    ("init engine", "engine warmed up"),
    ("Loaded new LoRA adapter", None),
    ("Starting vLLM server on", "vLLM HTTP server up"),
)
_PREFIX = re.compile(r"^\(\w+ pid=\d+\)\s+\w+\s+\d\d-\d\d \d\d:\d\d:\d\d \[[^\]]+\]\s*")


@dataclass
class ServerInfo:
    url: str
    key: str | None  # a key that works (the generated admin key), when Tenor made one
    key_file: str | None
    no_auth: bool
    vllm_url: str


class StartupReporter:
    """Turns vLLM's start-up log into a few progress lines (and every error line)."""

    def __init__(self, emit: Callable[[str], None]):
        self.emit = emit
        self.started = time.monotonic()
        self.ready = threading.Event()

    def line(self, raw: str) -> None:
        if self.ready.is_set():
            if " ERROR " in raw or raw.startswith("Traceback"):
                self.emit(f"vLLM: {raw}")
            return
        text = _PREFIX.sub("", raw)
        if " ERROR " in raw or raw.startswith(("Traceback", "RuntimeError", "ValueError", "OSError")):
            self.emit(f"vLLM: {text}")
            return
        for needle, label in _MILESTONES:
            if needle in raw:
                self.emit(f"[{time.monotonic() - self.started:5.1f} s] vLLM: {label or text}")
                return

    def tick(self, every_s: float = 15.0) -> None:
        """Until ready, say every few seconds that start-up is still going."""
        def run():
            while not self.ready.wait(every_s):
                self.emit(f"[{time.monotonic() - self.started:5.1f} s] still starting vLLM "
                          "(about a minute on a CPU)...")
        threading.Thread(target=run, daemon=True, name="vllm-startup-ticker").start()


def _check_external(settings: Settings) -> None:
    from assistant.engine import Engine, EngineUnavailable, missing_models

    async def check():
        engine = Engine(settings.vllm.url, settings.vllm.api_key)
        try:
            return await missing_models(engine, settings.profiles)
        finally:
            await engine.aclose()

    try:
        problems = asyncio.run(check())
    except EngineUnavailable as exc:
        raise ConfigError(f"{exc} (vllm.url is set, so Tenor does not start one)") from None
    if problems:
        raise ConfigError("the external vLLM is missing what the profiles need:\n  " + "\n  ".join(problems))


def only_profile(settings: Settings, name: str) -> Settings:
    """Settings that serve just one profile (and make it the default)."""
    profile = settings.profile(name)
    return settings.model_copy(update={"profiles": {name: profile}, "default_profile": name})


def uvicorn_config(app, settings: Settings, host: str, port: int):
    """How uvicorn runs the app: the client IP comes from ``X-Forwarded-For`` only when the
    connection is from one of ``server.forwarded_allow_ips`` (the reverse proxy)."""
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                          timeout_graceful_shutdown=settings.server.drain_timeout_s,
                          proxy_headers=True, forwarded_allow_ips=settings.server.forwarded_allow_ips)


def serve(
    settings: Settings,
    host: str | None = None,
    port: int | None = None,
    *,
    no_auth: bool = False,
    vllm_url: str | None = None,
    on_ready: Callable[[ServerInfo], None] | None = None,
    emit: Callable[[str], None] | None = None,
) -> None:
    """Serve until stopped. Raises ``ConfigError`` before starting anything if the config is unusable."""
    import uvicorn

    from assistant.app import create_app
    from assistant.auth import ensure_keys
    from assistant.vllm_process import VllmProcess

    emit = emit or (lambda message: print(message, flush=True))
    host = host or settings.server.host
    port = settings.server.port if port is None else port
    if vllm_url:
        settings = settings.model_copy(update={"vllm": settings.vllm.model_copy(update={"url": vllm_url})})

    reporter = StartupReporter(emit)
    managed = None
    if settings.vllm.url:
        emit(f"using the external vLLM at {settings.vllm.url}")
        _check_external(settings)
    else:
        managed = VllmProcess(settings, on_log=reporter.line)  # raises ConfigError for a bad profile
        emit(f"starting vLLM ({managed.base_path}"
             + (f" with adapter {managed.merged[0]} merged in (vllm.mode: {settings.vllm.mode})" if managed.merged
                else f" with adapters {', '.join(managed.loras)}" if managed.loras else ", no adapters")
             + f"); log: {managed.log_path}")
        reporter.tick()

    app = create_app(settings, no_auth=no_auth, vllm=managed)
    keys, key_file = ensure_keys(settings, no_auth or not settings.server.auth)  # create_app warns if auth is off

    class _Server(uvicorn.Server):
        def handle_exit(self, sig, frame):
            if managed is not None and managed.state == "starting":  # Ctrl-C while vLLM starts: stop now
                threading.Thread(target=managed.stop, daemon=True).start()
            super().handle_exit(sig, frame)

        @contextlib.contextmanager
        def capture_signals(self):
            # uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown, which would kill
            # the process before vLLM is stopped and make the exit status -15: a drained,
            # clean stop is a normal exit (0).
            with super().capture_signals():
                try:
                    yield
                finally:
                    if self._captured_signals:
                        log.warning("stopped by signal %s after draining in-flight requests",
                                    ", ".join(signal.Signals(s).name for s in self._captured_signals))
                    self._captured_signals.clear()

        async def startup(self, sockets=None):
            try:
                await super().startup(sockets)
            except SystemExit:  # uvicorn exits 3 when the lifespan fails: say why below instead
                self.should_exit = True
            reporter.ready.set()
            if self.started and on_ready:
                bound = self.servers[0].sockets[0].getsockname() if self.servers else (host, port)
                on_ready(ServerInfo(
                    url=f"http://{host}:{bound[1]}",
                    key=keys[0].key if key_file else None, key_file=key_file,
                    no_auth=no_auth or not settings.server.auth,
                    vllm_url=managed.url if managed else settings.vllm.url,
                ))

    if settings.server.log_requests:  # one line per request (assistant.request_log), no bodies by default
        logging.getLogger("tenor.request").setLevel(logging.INFO)
    # SIGTERM: stop accepting, let in-flight requests (streams) finish for up to drain_timeout_s,
    # cancel what is left, then the lifespan stops vLLM; the process exits 0.
    server = _Server(uvicorn_config(app, settings, host, port))
    # A failed start is reported once, plainly, by StartupFailed: not as uvicorn's traceback.
    quiet = _DropOnceFailed(app)
    logging.getLogger("uvicorn.error").addFilter(quiet)
    try:
        server.run()
    finally:
        logging.getLogger("uvicorn.error").removeFilter(quiet)
        reporter.ready.set()
        if managed is not None:
            managed.stop()
    if not server.started:
        error = getattr(app.state, "startup_error", None)
        raise StartupFailed(f"the server did not start: {error or 'see the messages above'}")


class _DropOnceFailed(logging.Filter):
    """Drops uvicorn's log records once the app has recorded why it could not start."""

    def __init__(self, app):
        super().__init__()
        self.app = app

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(self.app.state, "startup_error", None) is None


class StartupFailed(Exception):
    """The server could not start (vLLM failed, port in use, ...); the message says why."""
