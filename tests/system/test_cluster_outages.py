"""A cluster under load while Redis or PostgreSQL restarts, a daemon is killed, or all three
restart one after the other (issue 11's outage tests).

Three daemons share one database; starts go round-robin to all three (each forwards what
another daemon holds). Every start answered 201 must finish, whatever restarted meanwhile;
a start may be refused only with 503 + Retry-After. Losing Redis loses nothing (PostgreSQL
holds every acknowledged transition); singleton jobs keep exactly one leader throughout."""

from __future__ import annotations

import os
import signal
import threading
import time

import rfclient
from engine_client import data_dir, get_run, kill9, must_put, request, start, step, wait_until
from test_leader_election import JOBS, cluster, leaders
from test_pg_spread import held, shared_by

FLOW = {"steps": [{"id": "a", "type": "noop"},
                  {"id": "wait", "type": "delay", "ms": 300, "depends_on": ["a"]},
                  {"id": "b", "type": "noop", "depends_on": ["wait"]}]}


class Load:
    """Closed-loop starters, one per daemon, each start with an Idempotency-Key."""

    def __init__(self, ds):
        self.ds = ds
        self.answered: dict[str, str] = {}
        self.refused = 0
        self.refused_without_retry_after = 0
        self.other: list[str] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.going: set[int] = set()  # ports of daemons being stopped or killed
        self.unknown: list[str] = []  # keys whose start got no answer from such a daemon
        self.threads = [threading.Thread(target=self.run, args=(i,)) for i in range(len(ds))]

    def run(self, worker: int):
        n = 0
        while not self.stop.is_set():
            n += 1
            key = f"w{worker}-{n}"
            d = self.ds[(worker + n) % len(self.ds)]
            if d.port in self.going or not d.alive():
                time.sleep(0.01)
                continue
            try:
                r = request(d, "POST", "/v1/workflows/flow/runs", {"input": {"k": key}},
                            headers={"Idempotency-Key": key}, timeout=30.0)
            except (rfclient.NoResponse, OSError) as e:
                with self.lock:
                    if d.port in self.going:
                        self.unknown.append(key)  # it may or may not have been created
                    else:
                        self.other.append(f"{key}: {e!r}")
                continue
            with self.lock:
                if r.status == 201:
                    self.answered[key] = r.json()["id"]
                elif r.status == 503:
                    self.refused += 1
                    if not r.header("retry-after"):
                        self.refused_without_retry_after += 1
                else:
                    self.other.append(f"{key}: {r.status} {r.body[:200]!r}")
            if r.status == 503:
                time.sleep(0.05)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(60.0)

    def count(self) -> int:
        with self.lock:
            return len(self.answered)

    def check_all_finish(self, d, timeout: float = 90.0):
        assert not any(t.is_alive() for t in self.threads)
        assert not self.other, self.other[:5]
        assert self.refused_without_retry_after == 0
        # A start whose answer was lost with its daemon is repeated with its key: it meets the
        # run created then, if any (200), or creates it (201), never a second one.
        for key in self.unknown:
            deadline = time.monotonic() + 30.0
            while True:
                r = request(d, "POST", "/v1/workflows/flow/runs", {"input": {"k": key}},
                            headers={"Idempotency-Key": key}, timeout=30.0)
                if r.status in (200, 201):
                    self.answered[key] = r.json()["id"]
                    break
                assert r.status == 503 and r.header("retry-after"), (key, r)
                assert time.monotonic() < deadline, (key, r)
                time.sleep(0.2)
        assert len(set(self.answered.values())) == len(self.answered)  # one run per key
        deadline = time.monotonic() + timeout
        for key, rid in self.answered.items():
            while True:
                st, run = get_run(d, rid)
                assert st in (200, 503), f"{key} -> {rid}: GET {st} {run}"
                if st == 200 and run["status"] == "succeeded":
                    break
                assert st == 503 or run["status"] in ("pending", "running", "waiting"), (key, run)
                assert time.monotonic() < deadline, f"{rid} not finished: {run}"
                time.sleep(0.1)


def one_leader_each(ds) -> bool:
    return all(len(leaders(ds, job)) == 1 for job in JOBS)


def test_redis_restarted_under_load_loses_nothing(launch, pg, own_redis):
    _, ds = cluster(launch, pg, own_redis.url, 3, "--leader-ttl", "2s", "--leader-renew", "500ms")
    wait_until(lambda: shared_by(*ds), 20.0, 0.2, "the daemons share the partitions")
    must_put(ds[0], "flow", FLOW)
    wait_until(lambda: all(request(d, "GET", "/v1/workflows/flow").status == 200 for d in ds),
               10.0, 0.1, "every daemon knows the workflow")
    with Load(ds) as load:
        wait_until(lambda: load.count() >= 60, 30.0, 0.1, "runs before the outage")
        own_redis.stop()
        wait_until(lambda: all(rfclient.metric_sum(rfclient.scrape(d.port), "rf_leader_arbiter_up") == 0
                               for d in ds), 15.0, 0.1, "Redis seen away")
        during = load.count()
        wait_until(lambda: load.count() >= during + 60, 30.0, 0.1, "starts go on without Redis")
        assert one_leader_each(ds)
        own_redis.start()
        wait_until(lambda: all(rfclient.metric_sum(rfclient.scrape(d.port), "rf_cluster_events_up") == 1
                               for d in ds), 20.0, 0.2, "every daemon reads the events again")
        after = load.count()
        wait_until(lambda: load.count() >= after + 60, 30.0, 0.1, "starts after Redis is back")
    assert all(d.alive() for d in ds)
    load.check_all_finish(ds[1])
    assert one_leader_each(ds)


def test_postgres_restarted_under_load_with_three_daemons(launch, pg, redis_server):
    _, ds = cluster(launch, pg, f"{redis_server.url}/15", 3)
    wait_until(lambda: shared_by(*ds), 20.0, 0.2, "the daemons share the partitions")
    must_put(ds[0], "flow", FLOW)
    wait_until(lambda: all(request(d, "GET", "/v1/workflows/flow").status == 200 for d in ds),
               10.0, 0.1, "every daemon knows the workflow")
    with Load(ds) as load:
        wait_until(lambda: load.count() >= 60, 30.0, 0.1, "runs before the restart")
        pg.restart()

        def all_ready():
            dead = [d.log_tail(60) for d in ds if not d.alive()]
            assert not dead, f"a daemon exited after the PostgreSQL restart: {dead}"
            return all(rfclient.get(d.port, "/health/ready", timeout=2.0).status == 200 for d in ds)

        wait_until(all_ready, 30.0, 0.2, "every daemon ready again")
        after = load.count()
        wait_until(lambda: load.count() >= after + 60, 30.0, 0.1, "starts answered 201 after the restart")
    assert all(d.alive() for d in ds), [d.log_tail() for d in ds if not d.alive()]
    load.check_all_finish(ds[0])
    wait_until(lambda: one_leader_each(ds), 15.0, 0.2, "one leader per singleton job again")


def ready_cluster(launch, pg, redis_url, n=3, *flags):
    _, ds = cluster(launch, pg, redis_url, n, *flags)
    wait_until(lambda: shared_by(*ds), 20.0, 0.2, "the daemons share the partitions")
    must_put(ds[0], "flow", FLOW)
    wait_until(lambda: all(request(d, "GET", "/v1/workflows/flow").status == 200 for d in ds),
               10.0, 0.1, "every daemon knows the workflow")
    return ds


def test_a_daemon_killed_under_load_loses_no_acknowledged_run(launch, pg, redis_server):
    ds = ready_cluster(launch, pg, f"{redis_server.url}/14")
    with Load(ds) as load:
        wait_until(lambda: load.count() >= 90, 30.0, 0.1, "runs before the kill")
        victim = ds[2]
        load.going.add(victim.port)
        kill9(victim)
        after = load.count()
        wait_until(lambda: load.count() >= after + 90, 30.0, 0.1, "starts go on on the others")
    survivors = ds[:2]
    assert all(d.alive() for d in survivors)
    wait_until(lambda: shared_by(*survivors), 20.0, 0.2, "the survivors hold every partition")
    load.check_all_finish(survivors[0])
    wait_until(lambda: one_leader_each(survivors), 15.0, 0.2, "one leader per singleton job")


def restart_in_place(launch, d):
    """SIGTERM, then the same daemon again: same data dir, instance id and flags, new port."""
    args = list(d.args)
    args = args[1:] if args and args[0] == "serve" else args
    keep, i = [], 0
    while i < len(args):
        if args[i] in ("--listen", "--shards", "--egress-allow", "--data-dir", "--migrate"):
            i += 2
            continue
        keep.append(args[i])
        i += 1
    directory = data_dir(d)
    rc = d.stop()
    assert rc == 0, f"exit {rc} on SIGTERM\n{d.log_tail()}"
    return launch(*keep, "--data-dir", directory)


def test_a_rolling_restart_under_load_fails_no_request_and_loses_nothing(launch, pg, redis_server):
    ds = ready_cluster(launch, pg, f"{redis_server.url}/13")
    with Load(ds) as load:
        wait_until(lambda: load.count() >= 60, 30.0, 0.1, "runs before the restarts")
        for i in range(len(ds)):
            old = ds[i]
            load.going.add(old.port)
            ds[i] = restart_in_place(launch, old)  # the load threads see the new daemon
            wait_until(lambda: shared_by(*ds), 30.0, 0.2, "the partitions spread again")
            before = load.count()
            wait_until(lambda: load.count() >= before + 30, 30.0, 0.1, "starts go on")
    # (A start in flight when its daemon stopped counts as unknown and is repeated with its key
    # by check_all_finish: a client behind a load balancer would do the same.)
    load.check_all_finish(ds[0])
    wait_until(lambda: one_leader_each(ds), 15.0, 0.2, "one leader per singleton job")


def test_a_frozen_daemon_is_fenced_when_it_wakes_and_its_runs_finish_elsewhere(launch, pg, redis_server):
    """A daemon that stalls past its leases (SIGSTOP: as if its database connection were cut)
    loses its partitions to the other one; when it wakes, its first renewal or commit finds them
    taken (fenced inside the transaction) and it stops (exit 75) instead of writing."""
    ds = ready_cluster(launch, pg, f"{redis_server.url}/12", 2)
    d1, d2 = ds
    slow = {"steps": [{"id": "a", "type": "noop"},
                      {"id": "wait", "type": "delay", "ms": 2500, "depends_on": ["a"]},
                      {"id": "b", "type": "noop", "depends_on": ["wait"]}]}
    must_put(d1, "slow", slow)
    ids = []
    for _ in range(20):  # keyless: each in a partition d1 holds
        st, run = start(d1, "slow")
        assert st == 201, run
        ids.append(run["id"])
    os.kill(d1.pid, signal.SIGSTOP)
    try:
        wait_until(lambda: held(d2) == 256, 30.0, 0.2, "d2 takes every partition while d1 is frozen")
    finally:
        os.kill(d1.pid, signal.SIGCONT)
    rc = d1.wait(15.0)
    assert rc == 75, (rc, d1.log_tail())
    assert "another instance took over partitions" in d1.log_text() or \
           "leases lost" in d1.log_text(), d1.log_tail()
    for rid in ids:
        deadline = time.monotonic() + 30.0
        while True:
            st, run = get_run(d2, rid)
            assert st == 200, (rid, st, run)
            if run["status"] == "succeeded":
                break
            assert time.monotonic() < deadline, run
            time.sleep(0.1)
        # Each step ran once, on whichever daemon held the run: no attempt was made twice.
        for sid in ("a", "wait", "b"):
            assert len(step(run, sid)["attempts"]) == 1, (rid, sid, step(run, sid))
