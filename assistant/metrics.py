"""Prometheus metrics, one registry per app (so several apps can live in one process).

On the API port ``GET /metrics`` needs an admin key (request counts and
latencies are not for the public). For a Prometheus without a key, set
``server.metrics_port``: the same text is served there without one, by a small
HTTP server in a thread; keep that port off the public network.
"""

from __future__ import annotations

import time

from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest,
                               start_http_server)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self):
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("tenor_requests_total", "HTTP requests", ["route", "method", "status"], registry=r)
        self.latency = Histogram("tenor_request_seconds", "HTTP request latency (to the last byte)",
                                 ["route"], buckets=_LATENCY_BUCKETS, registry=r)
        self.tokens = Counter("tenor_tokens_total", "tokens processed", ["profile", "kind"], registry=r)
        self.retrieval = Histogram("tenor_retrieval_seconds", "retrieval time per request", ["profile"],
                                   buckets=_LATENCY_BUCKETS, registry=r)
        self.ttft = Histogram("tenor_time_to_first_token_seconds", "time to the first streamed token",
                              ["profile"], buckets=_LATENCY_BUCKETS, registry=r)
        self.no_answer = Counter("tenor_no_answer_total", "answers given as 'the documents do not cover it'",
                                 ["profile"], registry=r)
        self.answers = Counter("tenor_answers_total", "verified answers by what the policy shipped "
                               "(shipped, annotated, extract, no_answer, refused)", ["profile", "outcome"], registry=r)
        self.verification = Histogram("tenor_verification_seconds", "answer verification time per answer",
                                      ["profile"], buckets=_LATENCY_BUCKETS, registry=r)
        self.engine_errors = Counter("tenor_engine_errors_total", "failed calls to vLLM", ["kind"], registry=r)

    def track_vllm(self, vllm) -> None:
        """Export the managed vLLM's supervisor (``VllmProcess.status()``), read at each scrape."""
        self.registry.register(_Supervisor(vllm))

    def count_usage(self, profile: str, usage: dict | None) -> None:
        if usage:
            self.tokens.labels(profile, "prompt").inc(usage.get("prompt_tokens") or 0)
            self.tokens.labels(profile, "completion").inc(usage.get("completion_tokens") or 0)

    def count_read(self, profile: str, tokens: int) -> None:
        """A read of the profile's reader: its prompt's tokens, a forward pass vLLM never sees."""
        self.tokens.labels(profile, "read").inc(tokens)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def serve(self, host: str, port: int):
        """Serve the metrics without a key on ``host:port`` until ``.shutdown()`` (port 0: any free one)."""
        server, _ = start_http_server(port, addr=host, registry=self.registry)
        return server


class _Supervisor:
    """tenor_vllm_state{state} (1 for the current one), tenor_vllm_restarts_total (attempts, failed ones
    included) and tenor_vllm_failed_restarts (attempts in a row that failed; 0 once vLLM is back)."""

    def __init__(self, vllm):
        self.vllm = vllm

    def collect(self):
        status = self.vllm.status()
        state = GaugeMetricFamily("tenor_vllm_state", "the managed vLLM's state (1 = current)", labels=["state"])
        for name in self.vllm.STATES:
            state.add_metric([name], 1.0 if status["state"] == name else 0.0)
        yield state
        yield CounterMetricFamily("tenor_vllm_restarts", "restart attempts of the managed vLLM",
                                  value=status["restarts"])
        yield GaugeMetricFamily("tenor_vllm_failed_restarts", "restart attempts in a row that failed",
                                value=status["failed_restarts"])


class RequestMetrics:
    """ASGI middleware: count requests and time them to the response's last byte."""

    def __init__(self, app, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500

        async def tracking_send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(path, scope["method"], str(status)).inc()
            self.metrics.latency.labels(path).observe(time.perf_counter() - started)
