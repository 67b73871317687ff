"""Per-key and per-client-IP request limits (token buckets, in memory).

Each bucket holds up to ``per_minute`` requests and refills continuously, so a
client may burst up to its limit and then gets one request every
``60 / per_minute`` seconds. A refused request gets HTTP 429 with a
``Retry-After`` that says when the next one will pass. Limits are per process:
with N replicas behind a load balancer the effective limit is up to N times
higher (documented in docs/widget.md).
"""

from __future__ import annotations

import math
import threading
import time
from typing import Callable


class RateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic, max_buckets: int = 100_000):
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # name -> (tokens, last refill time)
        self._lock = threading.Lock()
        self._max_buckets = max_buckets

    def acquire(self, name: str, per_minute: int | None) -> float:
        """Take one request from bucket ``name``; 0 if allowed, else seconds to wait."""
        if not per_minute:
            return 0.0
        rate = per_minute / 60.0
        now = self._clock()
        with self._lock:
            if name not in self._buckets and len(self._buckets) >= self._max_buckets:
                self._forget_full(now)
            tokens, last = self._buckets.get(name, (float(per_minute), now))
            tokens = min(float(per_minute), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[name] = (tokens - 1.0, now)
                return 0.0
            self._buckets[name] = (tokens, now)
            return (1.0 - tokens) / rate

    def _forget_full(self, now: float) -> None:
        # Buckets idle for a minute are full again (any limit refills in 60 s): they carry
        # no information, so dropping them changes no answer.
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 60}


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
