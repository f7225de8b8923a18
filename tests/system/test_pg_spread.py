"""Partitions spread over the live daemons on one PostgreSQL database (the `pg` fixture's
private cluster): a daemon that joins gets its share of the ring over instances x shards
from the others, which hand those partitions over at run time (their live runs continue on
the new holder: timers from the database, interrupted http attempts retried with the same
Idempotency-Key); a daemon that stops or dies gives its share back. Each test uses a
database of its own."""

from __future__ import annotations

import threading

import rfclient
from engine_client import (check_event_frames, get_run, kill9, must_put, sse_events, start, step, term,
                           wait_terminal, wait_until)
from test_pg_store import fresh_db, launch_pg

DELAYED = {"steps": [{"id": "wait", "type": "delay", "ms": 1500},
                     {"id": "after", "type": "noop", "depends_on": ["wait"]}]}


def metric(d, name: str) -> float:
    return rfclient.metric_sum(rfclient.scrape(d.port), name)


def held(d) -> float:
    return metric(d, "rf_partitions_held")


def shared_by(*ds) -> bool:
    """Every partition held by exactly one of `ds`, and each of them holding some."""
    counts = [held(d) for d in ds]
    return sum(counts) == 256 and all(c > 0 for c in counts)


def start_many(d, workflow: str, n: int, **kw) -> list[str]:
    ids = []
    for i in range(n):
        st, doc = start(d, workflow, **kw)
        assert st == 201, (i, st, doc)
        ids.append(doc["id"])
    return ids


def test_a_joining_daemon_takes_its_share_and_the_moved_runs_finish(launch, pg):
    _, url = fresh_db(pg)
    d1 = launch_pg(launch, url, "--migrate", "true")
    assert held(d1) == 256
    must_put(d1, "delayed", DELAYED)
    ids = start_many(d1, "delayed", 40)

    d2 = launch_pg(launch, url)
    wait_until(lambda: shared_by(d1, d2), 15.0, 0.1, "d1 and d2 share the partitions")
    assert metric(d1, "rf_partitions_handed_over_total") == held(d2)
    assert metric(d2, "rf_partitions_taken_over_total") == held(d2)
    assert metric(d1, "rf_cluster_members") == 2 and metric(d2, "rf_cluster_members") == 2
    assert "partitions handed over" in d1.log_text(), d1.log_tail()

    # Every run finishes wherever its partition went, its delay counted once; any daemon answers.
    for rid in ids:
        run = wait_terminal(d1, rid, 20.0)
        assert run["status"] == "succeeded", run
        assert len(step(run, "wait")["attempts"]) == 1, run
        st, other = get_run(d2, rid)
        assert st == 200 and other["status"] == "succeeded", (st, other)
    # Both daemons start runs (each in a partition it holds) and those finish too.
    for d in (d1, d2):
        for rid in start_many(d, "delayed", 5):
            assert wait_terminal(d, rid, 20.0)["status"] == "succeeded"


def test_http_attempts_under_way_at_a_handover_are_recorded_once(launch, pg, flaky):
    _, url = fresh_db(pg)
    flaky.delay("/slow", 0.5)
    d1 = launch_pg(launch, url, "--migrate", "true")
    must_put(d1, "call", {"retry": {"max_attempts": 5, "initial_ms": 50, "max_ms": 500},
                          "steps": [{"id": "pay", "type": "http", "timeout_ms": 10000,
                                     "request": {"method": "POST", "url": flaky.url("/slow")}}]})
    ids: list[str] = []
    errors: list[object] = []

    def starter():
        # Starts keep coming while d2 joins: those of partitions on the move get 503 + Retry-After.
        for i in range(60):
            st, doc = start(d1, "call")
            if st == 201:
                ids.append(doc["id"])
            elif st != 503:
                errors.append((i, st, doc))

    t = threading.Thread(target=starter)
    t.start()
    d2 = launch_pg(launch, url)
    t.join(60)
    assert not errors, errors
    wait_until(lambda: shared_by(d1, d2), 15.0, 0.1, "d1 and d2 share the partitions")
    assert len(ids) >= 30, len(ids)
    for rid in ids:
        run = wait_terminal(d1, rid, 30.0)
        assert run["status"] == "succeeded", run
    calls_by_key = flaky.calls_by_key()
    for rid in ids:
        run = get_run(d1, rid)[1]
        attempts = len(step(run, "pay")["attempts"])
        # No call without a recorded attempt: an attempt cut off by the hand-over is recorded
        # as started and retried by the new holder with the same key.
        assert calls_by_key.get(f"{rid}/pay", 0) <= attempts, (rid, attempts, calls_by_key.get(f"{rid}/pay"))
        assert calls_by_key.get(f"{rid}/pay", 0) >= 1


def test_a_stopped_or_killed_daemon_gives_its_share_back(launch, pg):
    _, url = fresh_db(pg)
    d1 = launch_pg(launch, url, "--migrate", "true")
    must_put(d1, "delayed", DELAYED)
    d2 = launch_pg(launch, url)
    wait_until(lambda: shared_by(d1, d2), 15.0, 0.1, "d1 and d2 share the partitions")
    term(d2)  # leaves the members and hands its leases over at once
    wait_until(lambda: held(d1) == 256, 10.0, 0.1, "d1 holds every partition after d2 stopped")

    d3 = launch_pg(launch, url)
    wait_until(lambda: shared_by(d1, d3), 15.0, 0.1, "d1 and d3 share the partitions")
    ids = start_many(d3, "delayed", 20)
    kill9(d3)
    # Its row stops beating and its leases expire (4 s): d1 takes its share back.
    wait_until(lambda: held(d1) == 256, 20.0, 0.2, "d1 holds every partition after d3 died")
    for rid in ids:
        run = wait_terminal(d1, rid, 20.0)
        assert run["status"] == "succeeded", run
        assert len(step(run, "wait")["attempts"]) == 1, run


def test_three_daemons_spread_the_partitions_and_serve_each_others_runs(launch, pg):
    _, url = fresh_db(pg)
    d1 = launch_pg(launch, url, "--migrate", "true")
    must_put(d1, "delayed", DELAYED)
    d2 = launch_pg(launch, url)
    d3 = launch_pg(launch, url)
    wait_until(lambda: shared_by(d1, d2, d3), 20.0, 0.2, "three daemons share the partitions")
    assert all(metric(d, "rf_cluster_members") == 3 for d in (d1, d2, d3))
    started = {d.port: start_many(d, "delayed", 6) for d in (d1, d2, d3)}
    for ids in started.values():
        for rid in ids:
            for d in (d1, d2, d3):  # any daemon answers for any run (forwarded or from history)
                st, doc = get_run(d, rid)
                assert st == 200 and doc["id"] == rid, (st, doc)
            assert wait_terminal(d2, rid, 20.0)["status"] == "succeeded"


def fake_run_in(partition: int) -> str:
    """A run id whose partition (byte 7) is `partition`; no such run exists."""
    return f"018bd021-adb0-70{partition:02x}-8452-e560b2834d0f"


def test_outbox_lines_of_a_partition_held_elsewhere_go_back_to_its_holder(launch, pg):
    """A group commit writes one outbox row naming its partitions (migration 0016). The relay
    that takes it (it holds one of them) hands on the lines of the partitions it holds and writes
    the others back, one row per partition, which only their holder's relay takes: what happens
    to a commit whose partitions moved before its relay ran."""
    db, url = fresh_db(pg)
    d1 = launch_pg(launch, url, "--migrate", "true")
    d2 = launch_pg(launch, url)
    wait_until(lambda: shared_by(d1, d2), 15.0, 0.1, "d1 and d2 share the partitions")
    owner = dict(line.split("|") for line in
                 pg.psql("SELECT partition, owner FROM partition_leases;", db=db).split())
    assert len(set(owner.values())) == 2, owner
    here = min(int(p) for p, o in owner.items() if o == owner["0"])
    there = min(int(p) for p, o in owner.items() if o != owner["0"])
    # E'' text: \t and \n are PostgreSQL's escapes here.
    lines = "\\n".join([f"{fake_run_in(here)}\\t1\\t1\\tw", f"{fake_run_in(there)}\\t1\\t2\\tw",
                        f"{fake_run_in(here)}\\t2\\t2\\tw"])
    pg.psql(f"INSERT INTO outbox (parts, data) VALUES ('{{{here}}}', E'{lines}');", db=db)
    # The holder of `here` takes the row and writes the other partition's line back; the
    # holder of `there` takes that one (no relay takes a row of a partition it does not hold).
    wait_until(lambda: pg.psql("SELECT count(*) FROM outbox;", db=db).strip() == "0", 10.0, 0.1,
               "both relays to take their lines")
    logs = [d.log_text() for d in (d1, d2)]
    assert sum("held elsewhere written back" in t for t in logs) == 1, [d.log_tail() for d in (d1, d2)]
    assert sum(metric(d, "rf_outbox_written_back_total") for d in (d1, d2)) == 1
    assert sum(metric(d, "rf_outbox_rows_total") for d in (d1, d2)) >= 2
    for d in (d1, d2):
        assert "unreadable outbox row" not in d.log_text(), d.log_tail()


def test_event_streams_on_the_holder_see_every_event_while_two_daemons_relay(launch, pg):
    """Each daemon's outbox relay drains the events of the partitions it holds, so a run's
    stream on its holder gets every event even though another daemon relays too."""
    _, url = fresh_db(pg)
    d1 = launch_pg(launch, url, "--migrate", "true")
    must_put(d1, "steps", {"steps": [{"id": "a", "type": "noop"},
                                     {"id": "w", "type": "delay", "ms": 800, "depends_on": ["a"]},
                                     {"id": "b", "type": "noop", "depends_on": ["w"]},
                                     {"id": "c", "type": "noop", "depends_on": ["b"]}]})
    d2 = launch_pg(launch, url)
    wait_until(lambda: shared_by(d1, d2), 15.0, 0.1, "d1 and d2 share the partitions")
    results: dict[str, object] = {}

    def watch(d, rid):
        results[rid] = sse_events(d, f"/v1/runs/{rid}/events", timeout=15.0)

    threads = []
    for d in (d1, d2):
        for rid in start_many(d, "steps", 6):  # keyless: in a partition the daemon holds
            t = threading.Thread(target=watch, args=(d, rid))
            t.start()
            threads.append(t)
    for t in threads:
        t.join(30)
    for rid, res in results.items():
        assert res.status == 200, (rid, res.status)
        types = [e["type"] for e in check_event_frames(res.events(), rid)]
        assert res.ended and types and types[-1] == "run.succeeded", (rid, types)
        seqs = [int(f.id) for f in res.events()]
        assert seqs == list(range(1, len(seqs) + 1)), (rid, seqs)
