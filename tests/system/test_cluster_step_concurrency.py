"""Step-level concurrency limits over a cluster (issue 14 item 4, README "Flow control"): with
--redis-url an http step's "concurrency" limit holds for every daemon together, not for each.
Two daemons on one PostgreSQL database and one Redis, 2 shards each.

- the limit is the cluster's: with runs waiting on both daemons, at most `limit` calls of a key
  are in progress at the server, and the daemons take turns (neither is starved);
- a daemon killed with -9 while holding permits holds them no longer than a lease's lifetime:
  the other daemon's waiting runs then get them and finish;
- without Redis each daemon grants its split of the limit (limit / live members), so the
  cluster still stays within it, and counts those permits in rf_step_permit_fallback_total.
"""

from __future__ import annotations

import time

import rfclient
from engine_client import call, kill9, wait_status, wait_until
from test_engine_step_concurrency import KeyedServer, wf
from test_pg_store import fresh_db, launch_pg

SHARDS = 2


def metric(d, name: str, **labels) -> float:
    return rfclient.metric_sum(rfclient.scrape(d.port), name, **labels)


def cluster(launch, pg, redis_url: str):
    _, url = fresh_db(pg)
    ds = [launch_pg(launch, url, "--migrate", "true", "--redis-url", redis_url, shards=SHARDS)]
    ds.append(launch_pg(launch, url, "--redis-url", redis_url, shards=SHARDS))
    wait_until(lambda: all(metric(d, "rf_cluster_members") == 2 for d in ds), 20.0, 0.1, "two members")
    return ds


def put_everywhere(ds, name: str, definition) -> None:
    st, doc = call(ds[0], "PUT", f"/v1/workflows/{name}", definition)
    assert st == 201, (st, doc)
    wait_until(lambda: all(call(d, "GET", f"/v1/workflows/{name}")[0] == 200 for d in ds), 10.0, 0.1,
               "the workflow known to both daemons")


def start(d, name: str, k: str, n: int) -> str:
    st, doc = call(d, "POST", f"/v1/workflows/{name}/runs", {"input": {"k": k, "n": n}})
    assert st == 201, (st, doc)
    return doc["id"]


def held_at_least(server: KeyedServer, key: str, n: int, seconds: float) -> None:
    """The server sees `n` calls of `key` in progress and, for `seconds`, never more."""
    wait_until(lambda: server.now(key) >= n, 20.0, 0.05, f"{n} calls of {key} in progress")
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        assert server.now(key) <= n, (server.now(key), n)
        time.sleep(0.05)


def test_the_limit_holds_for_the_cluster_and_the_daemons_take_turns(launch, pg, redis_server):
    server = KeyedServer()
    try:
        d1, d2 = cluster(launch, pg, redis_server.url)
        put_everywhere((d1, d2), "csk", wf(server.url, 2))
        server.gate("busy")
        # Runs 0..5 are d1's, 6..11 d2's (an unkeyed start stays with the daemon that took it).
        runs = [(d1, start(d1, "csk", "busy", n)) for n in range(6)]
        runs += [(d2, start(d2, "csk", "busy", n)) for n in range(6, 12)]
        # Two calls at once, never four (each daemon alone would allow two).
        held_at_least(server, "busy", 2, 2.0)
        wait_until(lambda: metric(d1, "rf_step_permit_lease_waits_total") +
                   metric(d2, "rf_step_permit_lease_waits_total") > 0, 10.0, 0.1, "a daemon told to wait")
        assert metric(d1, "rf_step_permit_leases") + metric(d2, "rf_step_permit_leases") == 2
        # One call at a time ends; the next goes to whichever daemon is first in the line.
        for i in range(10):
            server.release("busy")
            wait_until(lambda: len(server.seen("busy")) >= 3 + i, 20.0, 0.05, f"call {3 + i}")
            assert server.now("busy") <= 2
        server.release("busy", 2)
        for d, rid in runs:
            run = wait_status(d, rid, {"succeeded", "failed"}, 30.0)
            assert run["status"] == "succeeded", run
        assert server.max_seen["busy"] == 2, server.max_seen
        order = [int(n) for n in server.seen("busy")]
        assert sorted(order) == list(range(12)), order
        # Turns: in the first 8 calls each daemon made at least 3 (a starved daemon makes 0-2).
        first = order[:8]
        assert sum(1 for n in first if n < 6) >= 3 and sum(1 for n in first if n >= 6) >= 3, order
        # Every lease went back.
        wait_until(lambda: metric(d1, "rf_step_permit_leases") + metric(d2, "rf_step_permit_leases") == 0,
                   10.0, 0.1, "no lease held")
    finally:
        server.close()


def test_a_killed_daemons_permits_end_with_their_leases(launch, pg, redis_server):
    server = KeyedServer()
    try:
        d1, d2 = cluster(launch, pg, redis_server.url)
        put_everywhere((d1, d2), "csk", wf(server.url, 2, attempts=10))
        server.gate("busy")
        mine = [start(d1, "csk", "busy", n) for n in range(2)]
        wait_until(lambda: server.now("busy") == 2, 20.0, 0.05, "d1's two calls")
        theirs = [start(d2, "csk", "busy", n) for n in range(10, 13)]
        wait_until(lambda: metric(d2, "rf_step_permit_lease_waits_total") > 0, 10.0, 0.1, "d2 told to wait")
        kill9(d1)
        server.release("busy", 2)  # d1's calls end at the server (their daemon is gone)
        wait_until(lambda: server.now("busy") == 0, 10.0, 0.05, "d1's calls over")
        # d2 (which takes d1's partitions over too) gets the permits once d1's leases end.
        held_at_least(server, "busy", 2, 1.0)
        server.release("busy", 10)
        for rid in theirs + mine:
            run = wait_status(d2, rid, {"succeeded", "failed"}, 60.0)
            assert run["status"] == "succeeded", run
        assert server.max_seen["busy"] == 2, server.max_seen
    finally:
        server.close()


def test_without_redis_each_daemon_grants_its_split(launch, pg, own_redis):  # noqa: F811
    server = KeyedServer()
    try:
        d1, d2 = cluster(launch, pg, own_redis.url)
        put_everywhere((d1, d2), "csk", wf(server.url, 2))
        own_redis.stop()
        server.gate("busy")
        runs = [(d1, start(d1, "csk", "busy", n)) for n in range(3)]
        runs += [(d2, start(d2, "csk", "busy", n)) for n in range(10, 13)]
        # A limit of 2 over 2 members: one call from each daemon, never more.
        held_at_least(server, "busy", 2, 2.0)
        in_progress = server.seen("busy")
        assert sorted(int(n) < 10 for n in in_progress) == [False, True], in_progress
        assert metric(d1, "rf_step_permit_fallback_total") >= 1
        assert metric(d2, "rf_step_permit_fallback_total") >= 1
        assert metric(d1, "rf_step_permit_lease_errors_total") > 0
        # Redis back: leases again, and every run finishes within the limit.
        own_redis.start()
        asks = metric(d1, "rf_step_permit_lease_asks_total") + metric(d2, "rf_step_permit_lease_asks_total")
        server.release("busy", 6)
        for d, rid in runs:
            run = wait_status(d, rid, {"succeeded", "failed"}, 30.0)
            assert run["status"] == "succeeded", run
        assert server.max_seen["busy"] == 2, server.max_seen
        assert metric(d1, "rf_step_permit_lease_asks_total") + metric(d2, "rf_step_permit_lease_asks_total") > asks
    finally:
        server.close()
