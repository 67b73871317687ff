"""Per-key and per-client-IP request limits (token buckets, in memory).

Each bucket holds up to ``per_minute`` requests and refills continuously, so a
client may burst up to its limit and then gets one request every
``60 / per_minute`` seconds. A refused request gets HTTP 429 with a
``Retry-After`` that says when the next one will pass. Limits are per process:
with N replicas behind a load balancer the effective limit is up to N times
higher (documented in docs/widget.md).

The same buckets hold per-key token budgets (model tokens per minute): an
answer's tokens are known only once it is done, so they are ``spend``-ed
afterwards, and the next request waits while the bucket is in debt.
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

    def acquire(self, name: str, per_minute: int | None, cost: float = 1.0) -> float:
        """Take ``cost`` from bucket ``name`` if it holds that much: 0 if taken, else seconds to wait.

        ``cost=0`` takes nothing: it passes while the bucket is not in debt (see ``spend``).
        """
        if not per_minute:
            return 0.0
        rate = per_minute / 60.0
        with self._lock:
            tokens, now = self._level(name, per_minute)
            if tokens >= cost:
                self._buckets[name] = (tokens - cost, now)
                return 0.0
            self._buckets[name] = (tokens, now)
            return (cost - tokens) / rate

    def spend(self, name: str, per_minute: int | None, amount: float) -> None:
        """Take ``amount`` whatever the bucket holds: it may go into debt, which ``acquire`` waits out.

        For costs known only afterwards, such as the tokens an answer used.
        """
        if not per_minute:
            return
        with self._lock:
            tokens, now = self._level(name, per_minute)
            self._buckets[name] = (tokens - amount, now)

    def _level(self, name: str, per_minute: int) -> tuple[float, float]:
        now = self._clock()
        if name not in self._buckets and len(self._buckets) >= self._max_buckets:
            self._forget_full(now)
        tokens, last = self._buckets.get(name, (float(per_minute), now))
        return min(float(per_minute), tokens + (now - last) * per_minute / 60.0), now

    def _forget_full(self, now: float) -> None:
        # Buckets idle for a minute are full again (any limit refills in 60 s): they carry no
        # information, so dropping them changes no answer (a token debt, at most one answer's
        # worth, is forgiven; this happens only past max_buckets).
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 60}


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
