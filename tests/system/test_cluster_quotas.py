"""Quotas shared by a cluster through Redis (--redis-url, README "Quotas"): two daemons on one
PostgreSQL database and one Redis. Run starts a second come from one token bucket in Redis
that each shard takes batches from, so one daemon alone may use the whole rate (without Redis
it gets its split: rate / live members) and both together get no more than the rate; live
runs are counted over the cluster from the counts each daemon publishes about once a second.
Without Redis each daemon falls back to its split, and shares again once Redis is back.

Bounds are computed from the time the traffic took (a loaded machine is slow, never fast)."""

from __future__ import annotations

import itertools
import json
import threading
import time

import rfclient
from engine_client import assert_error, call, wait_until
from test_pg_store import fresh_db, launch_pg

QUICK = {"steps": [{"id": "only", "type": "noop"}]}
APPROVAL = {"steps": [{"id": "gate", "type": "approval"}]}
RATE = 20          # starts a second, for the cluster
BURST = 0.25       # seconds of the rate: a bucket of 5
CAPACITY = RATE * BURST
SHARDS = 2
_db = itertools.count(7)
_ns = itertools.count(1)


def metric(d, name: str, **labels) -> float:
    return rfclient.metric_sum(rfclient.scrape(d.port), name, **labels)


def fresh_ns(prefix: str) -> str:
    # Unique per test and run: the session's Redis keeps buckets and counts by namespace.
    return f"{prefix}{next(_ns)}-{int(time.time() * 1000) % 10**8}"


def cluster(launch, pg, redis_url: str, tmp_path, quotas: dict):
    q = tmp_path / "quotas.json"
    q.write_text(json.dumps(quotas))
    _, url = fresh_db(pg)
    flags = ("--redis-url", redis_url, "--quotas-file", str(q))
    ds = [launch_pg(launch, url, "--migrate", "true", *flags, shards=SHARDS)]
    ds.append(launch_pg(launch, url, *flags, shards=SHARDS))
    # Both count each other as members: without sharing each would enforce half the limits.
    wait_until(lambda: all(metric(d, "rf_cluster_members") == 2 for d in ds), 20.0, 0.1,
               "two members")
    return ds


def put(d, ns: str, name: str, definition) -> None:
    st, doc = call(d, "PUT", f"/v1/namespaces/{ns}/workflows/{name}", definition)
    assert st in (200, 201), (st, doc)


def known_everywhere(ds, ns: str, name: str) -> None:
    wait_until(lambda: all(call(d, "GET", f"/v1/namespaces/{ns}/workflows/{name}")[0] == 200 for d in ds),
               10.0, 0.1, "every daemon knows the workflow")


def start(d, ns: str, name: str):
    return call(d, "POST", f"/v1/namespaces/{ns}/workflows/{name}/runs", {})


def hammer(targets, ns: str, seconds: float) -> tuple[int, int, float, list]:
    """Starts as fast as 2 clients a target can for `seconds`: (admitted, refused, elapsed,
    the other answers as (status, message))."""
    admitted = refused = 0
    other: list = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def work(d):
        nonlocal admitted, refused
        while time.monotonic() < stop:
            st, doc = start(d, ns, "quick")
            with lock:
                if st == 201:
                    admitted += 1
                elif st == 429:
                    refused += 1
                else:
                    other.append((st, str(doc.get("message", "")) if isinstance(doc, dict) else str(doc)))

    threads = [threading.Thread(target=work, args=(d,)) for d in targets for _ in range(2)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 30)
    return admitted, refused, time.monotonic() - t0, other


def answered(other: list) -> bool:
    """Every start was admitted or refused by a quota. A loaded machine may make PostgreSQL slow
    enough for a rare 503 of the store's ("the history store is behind; retry"); never one of
    the quotas' or Redis's."""
    return len(other) <= 3 and all(st == 503 and "quota" not in m and "redis" not in m.lower()
                                   for st, m in other)


def test_one_daemon_alone_gets_the_whole_rate_and_both_together_no_more(launch, pg, redis_server, tmp_path):
    redis = f"{redis_server.url}/{next(_db) % 16}"
    d1, d2 = cluster(launch, pg, redis, tmp_path,
                     {"default": {"starts_per_second": RATE, "burst_seconds": BURST}})
    alone, both = fresh_ns("alone"), fresh_ns("both")
    for ns in (alone, both):
        put(d1, ns, "quick", QUICK)
        known_everywhere((d1, d2), ns, "quick")

    # (a) Only d1 is asked. Its split would be RATE / 2 a second; the cluster's bucket gives it
    # all of RATE. Lower bound: 0.7 of the rate over the time taken; the split could give at
    # most RATE/2 x elapsed + its buckets (a few), well below.
    admitted, refused, elapsed, other = hammer([d1], alone, 4.0)
    assert answered(other), other
    assert refused > 0  # the limit held
    assert admitted >= 0.7 * RATE * elapsed, (admitted, elapsed)
    # Upper: what Redis can grant (rate x time + its bucket), plus a bucket's first request
    # on each shard decided by the split.
    assert admitted <= RATE * elapsed + CAPACITY + 2 * SHARDS, (admitted, elapsed)
    assert metric(d1, "rf_quota_redis_batches_total", outcome="granted") > 0
    assert metric(d1, "rf_quota_redis_batches_total", outcome="empty") > 0
    assert metric(d1, "rf_quota_redis_buckets") >= 1

    # (b) Both daemons asked at once: together no more than the rate (+ burst).
    admitted, refused, elapsed, other = hammer([d1, d2], both, 4.0)
    assert answered(other), other
    assert refused > 0
    assert admitted <= RATE * elapsed + CAPACITY + 2 * 2 * SHARDS, (admitted, elapsed)
    assert admitted >= 0.5 * RATE * elapsed, (admitted, elapsed)
    for d in (d1, d2):
        assert metric(d, "rf_quota_redis_tokens_total") > 0


def exchanged(ds, rounds: int):
    """Waits until every daemon published and read the live counts `rounds` more times a shard."""
    base = [metric(d, "rf_quota_redis_live_exchanges_total", outcome="ok") for d in ds]
    wait_until(lambda: all(metric(d, "rf_quota_redis_live_exchanges_total", outcome="ok") >= b + rounds * SHARDS
                           for d, b in zip(ds, base)), 15.0, 0.1, "live counts exchanged")


def test_live_runs_are_counted_over_the_cluster(launch, pg, redis_server, tmp_path):
    redis = f"{redis_server.url}/{next(_db) % 16}"
    ns = fresh_ns("live")
    d1, d2 = cluster(launch, pg, redis, tmp_path, {"namespaces": {ns: {"live_runs": 4}}})
    put(d1, ns, "gate", APPROVAL)
    put(d1, ns, "quick", QUICK)
    known_everywhere((d1, d2), ns, "gate")
    known_everywhere((d1, d2), ns, "quick")
    ids = []
    for _ in range(3):  # split over two members, d1 alone could hold only 2
        st, run = start(d1, ns, "gate")
        assert st == 201, run
        ids.append(run["id"])
    exchanged((d1, d2), 2)
    st, run = start(d2, ns, "gate")  # the 4th: d2 may hold one, the cluster has 3
    assert st == 201, run
    exchanged((d1, d2), 2)
    for d in (d2, d1):  # d2's split would admit a second one of its own
        body = assert_error(start(d, ns, "gate"), 429, "quota_exceeded")
        assert "live runs" in body["message"], body
    for d in (d1, d2):
        assert metric(d, "rf_quota_rejected_total", limit="live_runs") >= 1

    # One ends: a start is admitted again (on either daemon) once the counts are exchanged.
    st, _ = call(d1, "POST", f"/v1/namespaces/{ns}/runs/{ids[0]}/signals/gate", {})
    assert st == 200
    wait_until(lambda: start(d2, ns, "quick")[0] == 201, 10.0, 0.2, "room for one more run")


def test_without_redis_each_daemon_enforces_its_split_then_shares_again(launch, pg, own_redis, tmp_path):  # noqa: F811
    d1, d2 = cluster(launch, pg, own_redis.url, tmp_path,
                     {"default": {"starts_per_second": RATE, "burst_seconds": BURST}})
    ns = fresh_ns("outage")
    put(d1, ns, "quick", QUICK)
    known_everywhere((d1, d2), ns, "quick")
    admitted, _, elapsed, other = hammer([d1], ns, 1.5)
    assert answered(other) and admitted > 0, (admitted, other)

    own_redis.stop()
    # Requests are still answered (201 or 429, never an error) and decided by d1's split:
    # RATE / 2 a second. The first ones after the stop may still spend a batch in hand.
    admitted, refused, elapsed, other = hammer([d1], ns, 3.0)
    assert answered(other), other
    assert admitted > 0 and refused > 0, (admitted, refused)
    assert admitted <= RATE / 2 * elapsed + CAPACITY + 2 * SHARDS, (admitted, elapsed)
    assert metric(d1, "rf_quota_redis_fallback_total", reason="unavailable") > 0
    assert metric(d1, "rf_quota_redis_batches_total", outcome="error") > 0
    assert metric(d1, "rf_quota_redis_up") < SHARDS

    own_redis.start()
    # Back: batches are granted again (requests drive the probes, at most one a second a shard).
    granted = metric(d1, "rf_quota_redis_batches_total", outcome="granted")

    def shared_again() -> bool:
        for _ in range(5):
            start(d1, ns, "quick")
        return (metric(d1, "rf_quota_redis_up") == SHARDS and
                metric(d1, "rf_quota_redis_batches_total", outcome="granted") > granted)

    wait_until(shared_again, 20.0, 0.2, "quotas shared through Redis again")
    admitted, _, elapsed, other = hammer([d1], ns, 3.0)
    assert answered(other), other
    assert admitted >= 0.7 * RATE * elapsed, (admitted, elapsed)  # the whole rate again, not RATE / 2
