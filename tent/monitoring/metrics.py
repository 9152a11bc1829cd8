"""The Prometheus metrics of one server, through prometheus-client (never hand-formatted).

Each application has its own registry, so several servers in one process (the tests) keep
their counts apart. Counters and histograms move as requests and delivery attempts happen;
the delivery, pool and nonce gauges are read when /metrics is scraped, from the database
and the pool, so they hold for every process on the database, not only the one asked."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.process_collector import ProcessCollector

from tent.store.monitoring import MonitoringStore
from tent.store.pool import Pool

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # the route label of a request no route matched (a 404 or 405)
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LATENCY_BUCKETS = Histogram.DEFAULT_BUCKETS[:-1]  # finite bounds; +Inf is added at scrape


class RequestCounts:
    """Requests counted and timed as plain numbers, turned into prometheus-client metric
    families only when /metrics is scraped. A `Counter` and a `Histogram` child cost ~5 µs per
    request between them (a lock per increment, a loop over the buckets), measured in place,
    4 % of a single post's CPU; this costs a dict update and a bisect. The event loop's thread
    is the only writer."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.counts: dict[tuple[str, str, int], int] = {}
        # per (route, method): a count per bucket (the last one past every bound), then the sum
        self.latency: dict[tuple[str, str], list[float]] = {}
        registry.register(self)

    def add(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        self.counts[key] = self.counts.get(key, 0) + 1
        timed = self.latency.get((route, method))
        if timed is None:
            timed = self.latency[(route, method)] = [0] * (len(LATENCY_BUCKETS) + 1) + [0.0]
        timed[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        timed[-1] += seconds

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "tent_http_requests",
            "HTTP requests answered, by route pattern, method and status",
            labels=["route", "method", "status"],
        )
        for (route, method, status), count in self.counts.items():
            requests.add_metric([route, method, str(status)], count)
        yield requests
        latency = HistogramMetricFamily(
            "tent_http_request_duration_seconds",
            "Time to answer a request, by route pattern and method",
            labels=["route", "method"],
        )
        bounds = [*map(repr, LATENCY_BUCKETS), "+Inf"]
        for (route, method), timed in self.latency.items():
            running, buckets = 0.0, []
            for bound, count in zip(bounds, timed[:-1], strict=True):
                running += count
                buckets.append((bound, running))
            latency.add_metric([route, method], buckets, sum_value=timed[-1])
        yield latency


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)
        GCCollector(registry=r)
        # Labelled by the route's pattern (`/posts/{tail}`), never the raw path, so the
        # number of series stays fixed whatever clients request.
        self.requests = RequestCounts(r)
        self.attempts = Counter(
            "tent_delivery_attempts",
            "Delivery attempts by outcome: delivered, or the failure reason (§7.9)",
            ["outcome"],
            registry=r,
        )
        self.pending = Gauge(
            "tent_deliveries_pending", "Deliveries waiting for a first try or a retry", registry=r
        )
        self.in_flight = Gauge(
            "tent_deliveries_in_flight", "Deliveries a worker is sending now (leased)", registry=r
        )
        self.failed = Gauge(
            "tent_deliveries_failed",
            "Pending deliveries whose last attempt failed (a retry is due later)",
            registry=r,
        )
        self.given_up = Gauge(
            "tent_deliveries_given_up",
            "Deliveries that failed for good (kept for the owner to see)",
            registry=r,
        )
        self.oldest_pending = Gauge(
            "tent_delivery_oldest_pending_age_seconds",
            "Age of the oldest delivery not yet delivered (0 when none is pending)",
            registry=r,
        )
        self.pool_in_use = Gauge(
            "tent_db_pool_connections_in_use",
            "Database connections taken from this process's pool (two are its LISTEN connections)",
            registry=r,
        )
        self.pool_max = Gauge(
            "tent_db_pool_connections_max", "Size limit of this process's database pool", registry=r
        )
        self.nonces = Gauge(
            "tent_hawk_nonces", "Hawk nonces remembered against replays (all processes)", registry=r
        )
        self.loop_lag = Histogram(
            "tent_event_loop_lag_seconds",
            "How late the event loop ran a timer: time it spent blocked",
            buckets=LAG_BUCKETS,
            registry=r,
        )

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.add(route, method if method in METHODS else "other", status, seconds)

    def delivery_attempt(self, outcome: str) -> None:
        self.attempts.labels(outcome).inc()

    async def refresh(self, store: MonitoringStore, pool: Pool, now_ms: int) -> None:
        """The gauges read at scrape time (two cheap queries)."""
        summary = await store.deliveries(now_ms)
        self.pending.set(summary.pending)
        self.in_flight.set(summary.in_flight)
        self.failed.set(summary.failed)
        self.given_up.set(summary.given_up)
        oldest = summary.oldest_pending_ms
        self.oldest_pending.set(0 if oldest is None else max(now_ms - oldest, 0) / 1000)
        self.nonces.set(await store.nonces())
        self.pool_in_use.set(pool.get_size() - pool.get_idle_size())
        self.pool_max.set(pool.get_max_size())

    def render(self) -> bytes:
        return generate_latest(self.registry)
