"""What `GET /metrics` reports, in Prometheus' text format (prometheus-client does the format).

Each app has its own registry, so several servers (tests start them in one
process) never share counts.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Requests by endpoint and status, images, batch sizes, latency, and the queue's depth."""

    def __init__(self, max_batch: int, queue_depth: Callable[[], int]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "cgan_requests", "HTTP requests answered, by endpoint and status.", ["endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "cgan_request_seconds", "Time from a request's arrival to its response, by endpoint.", ["endpoint"],
            buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.images = Counter("cgan_images_generated", "Images generated.", registry=self.registry)
        self.batch_size = Histogram(
            "cgan_batch_images", "Images in each model run.", buckets=_powers_of_two(max_batch), registry=self.registry
        )
        depth = Gauge("cgan_queue_images", "Images waiting for the model.", registry=self.registry)
        depth.set_function(queue_depth)

    def observe_batch(self, images: int) -> None:
        self.batch_size.observe(images)
        self.images.inc(images)

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _powers_of_two(limit: int) -> list[float]:
    buckets, size = [], 1
    while size < limit:
        buckets.append(float(size))
        size *= 2
    return [*buckets, float(limit)]
