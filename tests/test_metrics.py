"""`/metrics`: Prometheus text from prometheus-client, behind TENT_METRICS_TOKEN; the counters
move with requests and delivery attempts, the delivery gauges follow the store."""

from __future__ import annotations

import socket

from prometheus_client.parser import text_string_to_metric_families

from tests.fed_helpers import deliveries, eventually

TOKEN = "scrape-me-3f9a"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _scrape(tent) -> dict[tuple[str, frozenset], float]:
    resp = await tent.anon.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(await resp.text()):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_are_off_without_a_token(tent) -> None:
    resp = await tent.anon.get("/metrics")
    assert resp.status == 404


async def test_metrics_need_the_token(make_server) -> None:
    tent = await make_server(metrics_token=TOKEN)
    assert (await tent.anon.get("/metrics")).status == 401
    wrong = await tent.anon.get("/metrics", headers={"Authorization": "Bearer guess"})
    assert wrong.status == 401
    assert wrong.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert "error" in await wrong.json()
    signed = await tent.client.get("/metrics")  # a Hawk owner is not a scraper either
    assert signed.status == 401


async def test_a_request_moves_its_route_counter_under_the_route_pattern(make_server) -> None:
    tent = await make_server(metrics_token=TOKEN)
    post = await tent.status("counted")
    before = await _scrape(tent)
    resp = await tent.client.get(tent.post_path(post["id"]))
    assert resp.status == 200
    after = await _scrape(tent)
    labels = {"route": "/posts/{tail}", "method": "GET", "status": "200"}
    assert (
        _value(after, "tent_http_requests_total", **labels)
        == _value(before, "tent_http_requests_total", **labels) + 1
    )
    timed = {"route": "/posts/{tail}", "method": "GET"}
    assert _value(after, "tent_http_request_duration_seconds_count", **timed) >= 1
    routes = {dict(labels)["route"] for name, labels in after if name == "tent_http_requests_total"}
    assert not any(post["id"] in route for route in routes)  # never the raw path


async def test_unknown_paths_share_one_route_label(make_server) -> None:
    tent = await make_server(metrics_token=TOKEN)
    for n in range(3):
        assert (await tent.anon.get(f"/no-such-thing-{n}")).status == 404
    samples = await _scrape(tent)
    labels = {"route": "unmatched", "method": "GET", "status": "404"}
    assert _value(samples, "tent_http_requests_total", **labels) == 3


async def test_a_delivery_failure_moves_the_failure_counter_and_the_gauges(make_server) -> None:
    alice = await make_server(metrics_token=TOKEN, delivery_give_up_after=0.3)
    down = f"http://127.0.0.1:{_closed_port()}"
    before = await _scrape(alice)
    assert _value(before, "tent_delivery_attempts_total", outcome="unreachable") == 0
    assert _value(before, "tent_deliveries_given_up") == 0
    post = await alice.status("anyone there?", mentions=[{"entity": down}])

    async def given_up():
        rows = await deliveries(alice, post["id"])
        return rows if rows and rows[0]["state"] == "failed" else None

    rows = await eventually(given_up)
    after = await _scrape(alice)
    assert _value(after, "tent_delivery_attempts_total", outcome="unreachable") == rows[0]["attempts"]
    assert _value(after, "tent_deliveries_given_up") == 1
    assert _value(after, "tent_deliveries_pending") == 0


async def test_pending_deliveries_and_their_age_are_read_from_the_store(make_server) -> None:
    alice = await make_server(metrics_token=TOKEN, delivery_retry_base=3600)
    down = f"http://127.0.0.1:{_closed_port()}"
    post = await alice.status("later", mentions=[{"entity": down}])

    async def retrying():
        rows = await deliveries(alice, post["id"])
        return rows if rows and rows[0]["last_error"] else None

    await eventually(retrying)
    samples = await _scrape(alice)
    assert _value(samples, "tent_deliveries_pending") == 1
    assert _value(samples, "tent_deliveries_failed") == 1
    assert _value(samples, "tent_deliveries_in_flight") == 0
    assert _value(samples, "tent_delivery_oldest_pending_age_seconds") > 0


async def test_nonces_pool_and_loop_lag_are_exported(make_server) -> None:
    tent = await make_server(metrics_token=TOKEN)
    for _ in range(3):
        assert (await tent.client.get("/posts")).status == 200  # each signed: one nonce each
    samples = await _scrape(tent)
    assert _value(samples, "tent_hawk_nonces") >= 3
    assert _value(samples, "tent_db_pool_connections_in_use") >= 2  # the two LISTEN connections
    assert _value(samples, "tent_db_pool_connections_max") == tent.settings.db_pool_size

    async def lag_sampled():
        return _value(await _scrape(tent), "tent_event_loop_lag_seconds_count") > 0

    await eventually(lag_sampled)


def test_request_counts_scrape_as_prometheus_clients_own_counter_and_histogram_would() -> None:
    """Requests are counted as plain numbers and turned into metric families at scrape time
    (for speed); prometheus-client's own Counter and Histogram, fed the same requests, are the
    reference, bounds included (a duration equal to a bound is in that bound's bucket)."""
    from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

    from tent.monitoring.metrics import LATENCY_BUCKETS, Metrics

    ours = Metrics()
    reference = CollectorRegistry()
    counter = Counter("tent_http_requests", "x", ["route", "method", "status"], registry=reference)
    histogram = Histogram("tent_http_request_duration_seconds", "x", ["route", "method"], registry=reference)
    durations = [0.0, *LATENCY_BUCKETS, 0.0001, 0.3, 9.99, 11.0, 120.0]
    for n, seconds in enumerate(durations):
        route, status = ("/posts", 200) if n % 3 else ("/posts/{tail}", 404)
        ours.request(route, "GET", status, seconds)
        counter.labels(route, "GET", str(status)).inc()
        histogram.labels(route, "GET").observe(seconds)

    def samples(text: str) -> dict[tuple[str, frozenset], float]:
        return {
            (s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name.startswith("tent_http") and not s.name.endswith("_created")
        }

    expected = samples(generate_latest(reference).decode())
    got = samples(generate_latest(ours.registry).decode())
    assert {k: v for k, v in got.items() if k in expected} == expected
    assert set(got) >= set(expected)
