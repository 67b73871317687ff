"""Scheduled syncs inside `tenor serve`, and their status. No HTTP here.

A background thread wakes every ``server.sync_check_s`` seconds and runs each
source whose ``every`` has passed since its last start, holding the source's
lease (``ingest.sync_state``) so that one replica at a time syncs it. A failing
source keeps its documents (``ingest.sync``) and its error is shown in
``GET /v1/admin/sources`` until a later run succeeds.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid

from ingest.sync import sync_source
from ingest.sync_state import SyncState
from tenor.config import Settings

log = logging.getLogger("tenor.sync")


class SourcesService:
    def __init__(self, settings: Settings, state: SyncState | None = None, run=sync_source):
        self.settings = settings
        self.state = state or SyncState(settings)
        self.run = run
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def scheduled(self) -> list:
        return [(p, s) for p, s in self.settings.sources() if s.every_seconds]

    def start(self) -> None:
        if self.scheduled and self._thread is None:
            self._thread = threading.Thread(target=self._loop, daemon=True, name="tenor-sync")
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.server.sync_check_s):
            try:
                self.tick()
            except Exception:  # the index may be down for a while; the next tick tries again
                log.exception("scheduled sync check failed")

    def tick(self) -> None:
        """Run every scheduled source that is due and whose lease this replica gets."""
        for profile, config in self.scheduled:
            if self._stop.is_set():
                return
            last = self.state.get(config.name).get("last_started")
            if last is not None and time.time() - last < config.every_seconds:
                continue
            if not self.state.acquire(config.name, self.holder, ttl_s=max(600.0, config.every_seconds)):
                continue
            summary, error = None, None
            try:
                result = self.run(self.settings, profile, config)
                summary = result.to_dict()
                error = "; ".join(f"{f.path}: {f.reason}" for f in result.failures) or None
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
            if error:
                log.warning("sync of source %s: %s", config.name, error)
            self.state.finish(config.name, self.holder, summary, error)

    def status(self) -> list[dict]:
        records = self.state.all()
        now = time.time()
        rows = []
        for profile, config in self.settings.sources():
            record = records.get(config.name, {})
            started = record.get("last_started")
            every = config.every_seconds
            rows.append({
                "name": config.name, "type": config.type, "profile": profile.name,
                "collection": profile.collection, "every": config.every,
                "running": bool(record.get("holder")) and record.get("expires", 0) > now,
                "last_started": started, "last_finished": record.get("last_finished"),
                "next_run": (started + every if started else now) if every else None,
                "last_summary": record.get("last_summary"), "last_error": record.get("last_error"),
            })
        return rows
