"""Membership heartbeats with a TTL in Redis (issue 11 item 2), beside the PostgreSQL beat rows.

Each daemon keeps `ringflow:member:<instance id>` = {"advertise", "started_ms"} (SET PX 2 s,
renewed every 250 ms) and its id in the sorted set `ringflow:members` (score: Redis's clock +
TTL). The ring counts a member only while it is in both PostgreSQL's beats and Redis's view
(while Redis can be trusted); partitions still move only through the PostgreSQL leases. A
SIGTERM deletes the entry after the hand-over; a kill -9 lets it expire; without Redis the
membership falls back to PostgreSQL's beats (rf_cluster_membership_up 0,
rf_cluster_membership_fallback_total), and the entries come back with Redis."""

from __future__ import annotations

import json
import threading

import rfclient
from engine_client import kill9, term, wait_until
from test_leader_election import cluster, ident
from test_pg_spread import held, shared_by

KEY = "ringflow:member:"
INDEX = "ringflow:members"


def metric(d, name: str, **labels) -> float:
    return rfclient.metric_sum(rfclient.scrape(d.port), name, **labels)


def cli(redis, db: int, *args: str) -> str:
    return redis.cli("-n", str(db), *args)


def entry(redis, db: int, d) -> dict | None:
    v = cli(redis, db, "GET", KEY + ident(d))
    return json.loads(v) if v else None


def test_each_daemon_keeps_an_entry_with_a_ttl_and_its_address(launch, pg, redis_server):
    db = 10
    cli(redis_server, db, "FLUSHDB")
    _, ds = cluster(launch, pg, f"{redis_server.url}/{db}", 2)
    wait_until(lambda: shared_by(*ds), 20.0, 0.2, "the daemons share the partitions")
    for d in ds:
        e = entry(redis_server, db, d)
        assert e is not None, d.log_tail()
        assert e["advertise"] == f"127.0.0.1:{d.port}", e
        assert e["started_ms"] > 0, e
        pttl = int(cli(redis_server, db, "PTTL", KEY + ident(d)))
        assert 0 < pttl <= 2000, pttl
    assert sorted(cli(redis_server, db, "ZRANGE", INDEX, "0", "-1").split()) == ["d1", "d2"]
    for d in ds:
        wait_until(lambda: metric(d, "rf_cluster_membership_up") == 1, 10.0, 0.1, "the Redis view is used")
        assert metric(d, "rf_cluster_membership_redis_members") == 2
        assert metric(d, "rf_cluster_members") == 2
        assert metric(d, "rf_cluster_membership_beats_total", outcome="ok") > 0
        assert metric(d, "rf_cluster_membership_fallback_total") == 0
        r = rfclient.get(d.port, "/health/ready")
        assert r.status == 200 and r.json()["degraded"] == [], r


def test_sigterm_deletes_the_entry_after_the_hand_over(launch, pg, redis_server):
    db = 11
    cli(redis_server, db, "FLUSHDB")
    _, ds = cluster(launch, pg, f"{redis_server.url}/{db}", 2)
    d1, d2 = ds
    wait_until(lambda: shared_by(*ds), 20.0, 0.2, "the daemons share the partitions")
    wait_until(lambda: metric(d1, "rf_cluster_membership_up") == 1, 10.0, 0.1, "the Redis view is used")
    assert entry(redis_server, db, d2) is not None
    term(d2)
    # Gone at once (not left to expire), from the index too.
    assert cli(redis_server, db, "EXISTS", KEY + "d2") == "0"
    assert cli(redis_server, db, "ZSCORE", INDEX, "d2") == ""
    assert "partitions handed over" in d2.log_text(), d2.log_tail()
    # Handed over (d2's log above says so): the survivor takes everything. How soon is a figure
    # of bench/membership.sh, not of this test (a loaded machine stretches it).
    wait_until(lambda: held(d1) == 256, 20.0, 0.05, "d1 holds every partition")
    # The view is read again at d1's next beat (every 250 ms): the take-over may come first.
    wait_until(lambda: metric(d1, "rf_cluster_membership_redis_members") == 1, 10.0, 0.05,
               "d1's Redis view without d2")
    assert metric(d1, "rf_cluster_members") == 1


def test_a_member_whose_redis_entry_expired_leaves_the_ring_though_its_row_is_fresh(launch, pg, redis_server):
    """kill -9 of d2, while something keeps d2's PostgreSQL beat row fresh (as if only its Redis
    beats had stopped): PostgreSQL alone would count d2 as live forever and d1 would never want
    its partitions. With the Redis view, d2 leaves the ring when its entry expires, and d1 takes
    its partitions once their leases (which nobody renews) expired: never before, the leases
    still decide."""
    db = 12
    cli(redis_server, db, "FLUSHDB")
    url, ds = cluster(launch, pg, f"{redis_server.url}/{db}", 2)
    d1, d2 = ds
    pgdb = url.rsplit("/", 1)[1]
    wait_until(lambda: shared_by(*ds), 20.0, 0.2, "the daemons share the partitions")
    wait_until(lambda: metric(d1, "rf_cluster_membership_up") == 1, 10.0, 0.1, "the Redis view is used")
    stop = threading.Event()

    def keep_fresh():
        while not stop.is_set():
            pg.psql("UPDATE instances SET seen_at = now() WHERE id = 'd2';", db=pgdb)
            stop.wait(0.3)

    t = threading.Thread(target=keep_fresh)
    kill9(d2)
    t.start()
    try:
        wait_until(lambda: cli(redis_server, db, "EXISTS", KEY + "d2") == "0", 15.0, 0.05, "d2's entry expired")
        wait_until(lambda: metric(d1, "rf_cluster_members") == 1, 15.0, 0.05, "d2 off d1's ring")
        live = pg.psql("SELECT count(*) FROM instances WHERE seen_at > now() - interval '4 seconds';", db=pgdb)
        assert live.strip() == "2"  # PostgreSQL still counts d2
        wait_until(lambda: held(d1) == 256, 15.0, 0.1, "d1 holds every partition")
        owners = pg.psql("SELECT DISTINCT owner FROM partition_leases;", db=pgdb).split()
        assert owners == ["d1"], owners
    finally:
        stop.set()
        t.join(10.0)


def test_without_redis_membership_falls_back_to_postgres_and_comes_back(launch, pg, own_redis):  # noqa: F811
    _, ds = cluster(launch, pg, own_redis.url, 3)
    wait_until(lambda: shared_by(*ds), 20.0, 0.2, "the daemons share the partitions")
    for d in ds:
        wait_until(lambda: metric(d, "rf_cluster_membership_up") == 1, 10.0, 0.1, "the Redis view is used")
    own_redis.stop()
    for d in ds:
        wait_until(lambda: metric(d, "rf_cluster_membership_up") == 0, 10.0, 0.1, "membership from PostgreSQL")
        assert metric(d, "rf_cluster_membership_fallback_total") >= 1
        assert metric(d, "rf_cluster_membership_beats_total", outcome="failed") >= 1
        r = rfclient.get(d.port, "/health/ready")
        assert r.status == 200, r  # still ready: nothing acknowledged depends on Redis
        assert [x["component"] for x in r.json()["degraded"]] == ["redis"], r
        assert "membership" in r.json()["degraded"][0]["effect"], r
        assert metric(d, "rf_cluster_members") == 3  # from PostgreSQL's beats
    # A death is still noticed, through PostgreSQL alone (beat row stale, leases expired).
    kill9(ds[2])
    rest = ds[:2]
    wait_until(lambda: shared_by(*rest), 20.0, 0.2, "the survivors hold every partition")
    assert all(metric(d, "rf_cluster_members") == 2 for d in rest)
    own_redis.start()
    for d in rest:
        wait_until(lambda: own_redis.cli("EXISTS", KEY + ident(d)) == "1", 15.0, 0.1, "the entry is back")
        wait_until(lambda: metric(d, "rf_cluster_membership_up") == 1, 15.0, 0.1, "the Redis view is used again")
        wait_until(lambda: rfclient.get(d.port, "/health/ready").json()["degraded"] == [], 20.0, 0.2,
                   "not degraded any more")
    assert sorted(own_redis.cli("ZRANGE", INDEX, "0", "-1").split()) == ["d1", "d2"]
    assert all(d.alive() for d in rest)
    assert all(metric(d, "rf_cluster_members") == 2 for d in rest)
