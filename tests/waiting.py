"""Polling for tests: wait until something is true, or fail saying what never happened."""

from __future__ import annotations

import time
from pathlib import Path

import pytest


def wait_for(check, timeout: float, what: str = "the condition", log: Path | None = None, every: float = 0.2):
    """``check()``'s first truthy value; after ``timeout`` seconds, a failure naming ``what``
    (with the tail of ``log``, when given)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            tail = log.read_text()[-3000:] if log and log.exists() else ""
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{tail}")
        time.sleep(every)
