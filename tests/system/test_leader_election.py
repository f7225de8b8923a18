"""Singleton jobs (history retention, audit retention) run on one daemon of a cluster: the
leader of each job, elected through a Redis lease (SET NX PX, INCR terms) and a lease row in
PostgreSQL (migration 0011) that every singleton write checks in its own transaction. A hot
standby takes a job over within the lease's TTL after a kill -9, at its next round after a
SIGTERM (the lease is released), and without Redis the daemons contend in PostgreSQL alone.
Observed through /metrics (rf_leader, rf_leader_term, rf_singleton_runs_total), the
leader_leases table and /health/ready."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time

import pytest

import rfclient
from engine_client import kill9, term, wait_until
from pg_fixtures import PgError
from test_pg_store import fresh_db, launch_pg

JOBS = ("history-retention", "audit-retention")
_db = itertools.count(1)
# Short leases keep the tests short; --retention 1s runs history retention every 250 ms.
FAST = ("--leader-ttl", "2s", "--leader-renew", "500ms", "--retention", "1s")


def metric(d, name: str, **labels) -> float:
    return rfclient.metric_sum(rfclient.scrape(d.port), name, **labels)


def leaders(ds, job: str) -> list:
    return [d for d in ds if d.alive() and metric(d, "rf_leader", task=job) == 1]


def the_leader(ds, job: str, timeout: float = 15.0):
    wait_until(lambda: len(leaders(ds, job)) == 1, timeout, 0.1, f"one leader of {job}")
    return leaders(ds, job)[0]


def cluster(launch, pg, redis_url: str | None, n: int, *flags: str):
    _, url = fresh_db(pg)
    extra = ("--redis-url", redis_url) if redis_url else ()
    ds = []
    for i in range(n):
        migrate = ("--migrate", "true") if i == 0 else ()
        ds.append(launch_pg(launch, url, *migrate, *extra, *flags, "--instance-id", f"d{i + 1}"))
    return url, ds


def ident(d) -> str:
    args = d.args
    return args[args.index("--instance-id") + 1]


def lease_row(pg, url: str, job: str) -> tuple[str, int]:
    db = url.rsplit("/", 1)[1]
    holder, t = pg.psql(f"SELECT holder, term FROM leader_leases WHERE job = '{job}';", db=db).strip().split("|")
    return holder, int(t)


def test_exactly_one_daemon_runs_each_singleton_job(launch, pg, redis_server):
    url, ds = cluster(launch, pg, f"{redis_server.url}/{next(_db) % 16}", 3, *FAST)
    for job in JOBS:
        leader = the_leader(ds, job)
        t = metric(leader, "rf_leader_term", task=job)
        assert t >= 1
        # The database's lease row and Redis's lease name the same daemon and term.
        assert lease_row(pg, url, job) == (ident(leader), t)
    hist = the_leader(ds, "history-retention")
    before = metric(hist, "rf_singleton_runs_total", task="history-retention")
    wait_until(lambda: metric(hist, "rf_singleton_runs_total", task="history-retention") >= before + 3,
               10.0, 0.1, "the leader runs history retention again and again")
    # Sampled for a while: one leader per job at every moment, and only leaders ever ran a job.
    for _ in range(10):
        for job in JOBS:
            assert len(leaders(ds, job)) == 1, job
        time.sleep(0.2)
    for d in ds:
        for job in JOBS:
            if metric(d, "rf_leader_changes_total", task=job) == 0:
                assert metric(d, "rf_singleton_runs_total", task=job) == 0, (ident(d), job)
    r = rfclient.get(ds[0].port, "/health/ready")
    assert r.status == 200 and r.json() == {"status": "ready", "degraded": []}, r


def test_a_killed_leaders_jobs_move_within_the_ttl_and_its_term_is_refused(launch, pg, redis_server):
    url, ds = cluster(launch, pg, f"{redis_server.url}/{next(_db) % 16}", 3, *FAST)
    job = "history-retention"
    old = the_leader(ds, job)
    old_term = int(metric(old, "rf_leader_term", task=job))
    kill9(old)
    rest = [d for d in ds if d is not old]
    t0 = time.monotonic()
    new = the_leader(rest, job, timeout=2.0 + 8.0)  # the TTL, plus a round and slack
    took = time.monotonic() - t0
    new_term = int(metric(new, "rf_leader_term", task=job))
    assert new_term > old_term, (old_term, new_term)
    assert lease_row(pg, url, job) == (ident(new), new_term)
    runs = metric(new, "rf_singleton_runs_total", task=job)
    wait_until(lambda: metric(new, "rf_singleton_runs_total", task=job) > runs, 10.0, 0.1,
               "the new leader runs the job")
    # The dead leader's term is refused by the store's fence; the new one passes.
    db = url.rsplit("/", 1)[1]
    with pytest.raises(PgError, match="is not the current leader"):
        pg.psql(f"SELECT rf_leader_fence('{job}', {old_term});", db=db)
    pg.psql(f"SELECT rf_leader_fence('{job}', {new_term});", db=db)
    print(f"takeover after kill -9: {took:.2f} s")


def test_sigterm_hands_the_jobs_over_before_the_ttl(launch, pg, redis_server):
    # A 30 s lease: only a release lets the standby take over within a few seconds.
    flags = ("--leader-ttl", "30s", "--leader-renew", "500ms", "--retention", "1s")
    url, ds = cluster(launch, pg, f"{redis_server.url}/{next(_db) % 16}", 2, *flags)
    old = {job: the_leader(ds, job) for job in JOBS}
    for job in JOBS:
        assert lease_row(pg, url, job)[0] == ident(old[job])
    stopping = old["history-retention"]
    term(stopping)
    assert "singleton job handed over" in stopping.log_text()
    t0 = time.monotonic()
    other = [d for d in ds if d is not stopping][0]
    wait_until(lambda: metric(other, "rf_leader", task="history-retention") == 1, 10.0, 0.1,
               "the standby leads history retention long before the 30 s lease would expire")
    assert time.monotonic() - t0 < 10.0
    wait_until(lambda: all(metric(other, "rf_leader", task=j) == 1 for j in JOBS), 10.0, 0.1,
               "the standby leads every job")


def test_a_frozen_leader_is_deposed_and_steps_down_when_it_wakes(launch, pg, redis_server):
    # Frozen (SIGSTOP) past its lease but not past the partition leases (4 s): a leader that
    # stalled, not one that died. Its lease expires by the database's clock, the other daemon
    # leads with a higher term, and the frozen one, once awake, finds its renewal refused.
    flags = ("--leader-ttl", "1s", "--leader-renew", "250ms", "--retention", "1s")
    url, ds = cluster(launch, pg, f"{redis_server.url}/{next(_db) % 16}", 2, *flags)
    job = "history-retention"
    old = the_leader(ds, job)
    other = [d for d in ds if d is not old][0]
    old_term = int(metric(old, "rf_leader_term", task=job))
    os.kill(old.pid, signal.SIGSTOP)
    try:
        wait_until(lambda: metric(other, "rf_leader", task=job) == 1, 3.0, 0.05,
                   "the other daemon leads while the leader is frozen")
    finally:
        os.kill(old.pid, signal.SIGCONT)
    new_term = int(metric(other, "rf_leader_term", task=job))
    assert new_term > old_term
    wait_until(lambda: metric(old, "rf_leader", task=job) == 0, 5.0, 0.05,
               "the woken leader stepped down")
    assert "no longer leading a singleton job" in old.log_text()
    for _ in range(8):
        assert len(leaders(ds, job)) == 1
        time.sleep(0.1)
    assert lease_row(pg, url, job) == (ident(other), new_term)
    assert old.alive() and other.alive()


def degraded(d) -> list:
    r = rfclient.get(d.port, "/health/ready")
    assert r.status == 200, r  # still ready: PostgreSQL holds everything acknowledged
    return [x["component"] for x in r.json()["degraded"]]


def test_without_redis_leadership_falls_back_to_postgres_and_jobs_run_once(launch, pg, own_redis):
    url, ds = cluster(launch, pg, own_redis.url, 3, *FAST)
    job = "history-retention"
    the_leader(ds, job)
    assert all(degraded(d) == [] for d in ds)
    own_redis.stop()
    wait_until(lambda: all(metric(d, "rf_leader_arbiter_up") == 0 for d in ds), 15.0, 0.1,
               "every daemon sees Redis away")
    assert all(degraded(d) == ["redis"] for d in ds)
    r = rfclient.get(ds[0].port, "/health/ready").json()
    assert "leader election" in r["degraded"][0]["effect"], r
    # The leader goes on; then it dies, and another daemon is elected in PostgreSQL alone.
    old = the_leader(ds, job)
    old_term = int(metric(old, "rf_leader_term", task=job))
    kill9(old)
    rest = [d for d in ds if d is not old]
    new = the_leader(rest, job, timeout=2.0 + 8.0)
    assert int(metric(new, "rf_leader_term", task=job)) > old_term
    assert lease_row(pg, url, job)[0] == ident(new)
    runs = metric(new, "rf_singleton_runs_total", task=job)
    wait_until(lambda: metric(new, "rf_singleton_runs_total", task=job) >= runs + 2, 10.0, 0.1,
               "the job runs on the new leader without Redis")
    for _ in range(8):
        for j in JOBS:
            assert len(leaders(rest, j)) == 1, j
        time.sleep(0.25)
    # Redis back: not degraded any more, and still one leader per job.
    own_redis.start()
    wait_until(lambda: all(degraded(d) == [] for d in rest), 20.0, 0.2, "Redis is used again")
    for j in JOBS:
        assert len(leaders(rest, j)) == 1, j


def test_a_single_daemon_leads_every_job_and_runs_them(launch):
    # Whichever store the suite runs on (RINGFLOW_TEST_STORE): the embedded store always leads;
    # alone on a database, the daemon wins every election.
    d = launch("--retention", "1s", "--leader-ttl", "2s", "--leader-renew", "500ms")
    wait_until(lambda: all(metric(d, "rf_leader", task=job) == 1 for job in JOBS), 10.0, 0.1,
               "the daemon leads every job")
    runs = metric(d, "rf_singleton_runs_total", task="history-retention")
    wait_until(lambda: metric(d, "rf_singleton_runs_total", task="history-retention") >= runs + 2,
               10.0, 0.1, "history retention runs")


def test_leader_flags_are_validated(rf_bin, tmp_path):
    for args, msg in ((["--leader-ttl", "0s"], "leader-ttl"),
                      (["--leader-ttl", "banana"], "leader-ttl"),
                      (["--leader-ttl", "4s", "--leader-renew", "3s"], "at most half of --leader-ttl"),
                      (["--leader-renew", "10ms"], "leader-renew")):
        p = subprocess.run([str(rf_bin), "serve", "--data-dir", str(tmp_path / "data"),
                            "--listen", f"127.0.0.1:{rfclient.free_port()}", *args],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 2, (args, p.returncode, p.stderr)
        assert msg in p.stderr, (args, p.stderr)
