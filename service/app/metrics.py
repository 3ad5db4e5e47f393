"""Prometheus metrics, on a registry of their own per app (so several apps can live in one process)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_QUEUE_WAIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.http_requests = Counter(
            "heed_http_requests", "HTTP requests answered, by route and status.",
            ["method", "route", "status"], registry=registry,
        )  # fmt: skip
        self.http_latency = Histogram(
            "heed_http_request_duration_seconds", "Time to answer an HTTP request, by route and status.",
            ["method", "route", "status"], buckets=_LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self.in_flight = Gauge("heed_http_requests_in_flight", "HTTP requests being served now.", registry=registry)
        self.requests_in_flight = 0  # the same number, readable cheaply (the batch scheduler consults it)
        self.translation_latency = Histogram(
            "heed_translation_duration_seconds", "Time from queueing a request's texts to having their translations.",
            ["model"], buckets=_LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self.batch_latency = Histogram(
            "heed_batch_duration_seconds", "Time one batched decode takes in ONNX Runtime.",
            ["model"], buckets=_LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self.batch_size = Histogram(
            "heed_batch_size", "Sentences decoded together in one batch.",
            ["model"], buckets=_BATCH_SIZE_BUCKETS, registry=registry,
        )  # fmt: skip
        self.queue_wait = Histogram(
            "heed_batch_queue_wait_seconds", "Time a sentence waits in the queue before its batch starts.",
            ["model"], buckets=_QUEUE_WAIT_BUCKETS, registry=registry,
        )  # fmt: skip
        self.queue_depth = Gauge("heed_batch_queue_depth", "Sentences waiting for a batch.", registry=registry)
        self.input_tokens = Counter(
            "heed_input_tokens", "Source subword tokens translated (with </s>).", ["model"], registry=registry
        )
        self.output_tokens = Counter(
            "heed_output_tokens", "Target subword tokens produced (with </s>).", ["model"], registry=registry
        )
        self.rejections = Counter(
            "heed_rejected_requests", "Requests turned away by the service, by reason.", ["reason"], registry=registry
        )
        self.store_errors = Counter(
            "heed_store_errors", "Result store operations that failed.", ["operation"], registry=registry
        )
        self.rate_limiter_errors = Counter(
            "heed_rate_limiter_errors", "Rate limit checks Redis failed (answered by this process's buckets).",
            registry=registry,
        )  # fmt: skip
        self.results_not_stored = Counter(
            "heed_results_not_stored", "Results asked to be stored that were not, by reason (store_unavailable, "
            "store_full, too_large).", ["reason"], registry=registry,
        )  # fmt: skip
        self.circuit_open = Gauge(
            "heed_circuit_open", "1 while a dependency's circuit breaker is open (calls to it fail at once).",
            ["dependency"], registry=registry,
        )  # fmt: skip
        self.degraded = Gauge(
            "heed_degraded", "1 while the service translates but a part of it fails (/readyz: degraded), by reason.",
            ["reason"], registry=registry,
        )  # fmt: skip
        self.model_info = Info("heed_model", "One per loaded model bundle.", ["model"], registry=registry)
        self.ready = Gauge("heed_ready", "1 once every model is loaded and warmed up.", registry=registry)

    def request_started(self) -> None:
        self.requests_in_flight += 1
        self.in_flight.inc()

    def request_finished(self) -> None:
        self.requests_in_flight -= 1
        self.in_flight.dec()

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        labels = {"method": method, "route": route, "status": str(status)}
        self.http_requests.labels(**labels).inc()
        self.http_latency.labels(**labels).observe(seconds)

    def record_model(self, name: str, details: dict[str, Any]) -> None:
        self.model_info.labels(model=name).info({key: str(value) for key, value in details.items()})
