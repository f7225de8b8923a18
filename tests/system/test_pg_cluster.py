"""Several daemons on one PostgreSQL database (the `pg` fixture's private cluster):
partition leases are taken only when free, expired or the taker's own; a standby takes
over a dead daemon's partitions once their leases expire and resumes their live runs; a
clean stop hands partitions over at once; a daemon whose partition was taken over stops
(fencing); one daemon per data directory. Runs in the plain system suite; each test uses a
database of its own."""

from __future__ import annotations

import rfclient
from engine_client import (call, data_dir, get_json, get_run, kill9, must_put, start, step, term,
                           wait_terminal, wait_until)
from test_pg_store import fresh_db, launch_pg

DELAYED = {"steps": [{"id": "wait", "type": "delay", "ms": 2500},
                     {"id": "after", "type": "noop", "depends_on": ["wait"]}]}
QUICK = {"steps": [{"id": "a", "type": "noop"}]}


def held(d) -> float:
    return rfclient.metric_sum(rfclient.scrape(d.port), "rf_partitions_held")


def taken_over(d) -> float:
    return rfclient.metric_sum(rfclient.scrape(d.port), "rf_partitions_taken_over_total")


def test_a_standby_takes_over_a_killed_daemons_runs(launch, pg):
    _, url = fresh_db(pg)
    d1 = launch_pg(launch, url, "--migrate", "true")
    assert held(d1) == 256
    d2 = launch_pg(launch, url, "--standby", "true")
    assert held(d2) == 0  # every lease is d1's and fresh
    # Workflows registered on d1 after d2 started reach d2 (it reads them again every second).
    must_put(d1, "delayed", DELAYED)
    must_put(d1, "quick", QUICK)
    wait_until(lambda: get_json(d2, "/v1/workflows/delayed")[0] == 200, 10.0, 0.1,
               "d2 knows the workflow made on d1")

    # A daemon that holds nothing forwards starts and live runs to the holder
    # (test_forward.py); one it may not forward (already forwarded) answers 503 + Retry-After.
    reply = call(d2, "POST", "/v1/workflows/quick/runs", headers={"X-Ringflow-Forwarded": "1"})
    st, doc = reply
    assert st == 503, (st, doc)
    assert reply.resp.header("retry-after") == "1", reply.resp
    assert "held by another instance" in doc["error"]["message"], doc

    done = start(d1, "quick", wait="5s")
    assert done[0] == 201 and done[1]["status"] == "succeeded", done
    ids = []
    for _ in range(20):
        st, doc = start(d1, "delayed")
        assert st == 201, (st, doc)
        ids.append(doc["id"])
    st, doc = get_run(d2, ids[0])
    assert st == 200 and doc["id"] == ids[0], (st, doc)  # forwarded to d1
    # A finished run is read from the database by any daemon.
    st, doc = get_run(d2, done[1]["id"])
    assert st == 200 and doc["status"] == "succeeded", doc

    kill9(d1)
    wait_until(lambda: held(d2) == 256, 20.0, 0.2, "d2 holds every partition")
    assert taken_over(d2) == 256
    for rid in ids:
        run = wait_terminal(d2, rid, 15.0)
        assert run["status"] == "succeeded", run
        assert len(step(run, "wait")["attempts"]) == 1, run
    assert start(d2, "quick", wait="5s")[0] == 201


def test_a_clean_stop_hands_partitions_over(launch, pg):
    _, url = fresh_db(pg)
    d1 = launch_pg(launch, url, "--migrate", "true")
    must_put(d1, "delayed", DELAYED)
    d2 = launch_pg(launch, url, "--standby", "true")
    st, doc = start(d1, "delayed")
    assert st == 201, doc
    term(d1)  # its leases expire at once instead of after their 4 s
    wait_until(lambda: held(d2) == 256, 10.0, 0.1, "d2 holds every partition")
    assert "partitions handed over" in d1.log_text(), d1.log_tail()
    run = wait_terminal(d2, doc["id"], 15.0)
    assert run["status"] == "succeeded", run


def test_a_daemon_whose_partition_was_taken_stops(launch, pg):
    db, url = fresh_db(pg)
    d1 = launch_pg(launch, url, "--migrate", "true")
    assert held(d1) == 256
    # Another instance takes partition 7 (as a takeover would: owner and a newer epoch).
    pg.psql("UPDATE partition_leases SET owner = 'intruder', epoch = epoch + 1000, "
            "expires_at = now() + interval '1 hour' WHERE partition = 7;", db=db)
    rc = d1.wait(10.0)
    assert rc == 75, (rc, d1.log_tail())
    assert "another instance took over partitions" in d1.log_text(), d1.log_tail()
    owners = pg.psql("SELECT count(*) FROM partition_leases WHERE owner = 'intruder';", db=db)
    assert owners.strip() == "1"


def test_one_daemon_per_data_dir(launch, pg):
    _, url = fresh_db(pg)
    d1 = launch_pg(launch, url, "--migrate", "true")
    d2 = launch_pg(launch, url, "--data-dir", data_dir(d1), ready=False)
    assert d2.wait(10.0) == 1, d2.log_tail()
    assert f"another ringflow (pid {d1.pid}) uses data dir" in d2.log_text(), d2.log_tail()
    assert d1.alive()


def test_a_restart_on_the_same_data_dir_takes_its_leases_back_at_once(launch, pg):
    _, url = fresh_db(pg)
    d1 = launch_pg(launch, url, "--migrate", "true")
    must_put(d1, "delayed", DELAYED)
    st, doc = start(d1, "delayed")
    assert st == 201, doc
    kill9(d1)
    d2 = launch_pg(launch, url, "--data-dir", data_dir(d1))
    # Same data dir, same instance id: its own unexpired leases are taken back at start.
    assert held(d2) == 256, d2.log_tail()
    run = wait_terminal(d2, doc["id"], 15.0)
    assert run["status"] == "succeeded", run


def test_two_daemons_never_disagree_about_a_workflow_version(launch, pg):
    """Both daemons number a PUT after the latest version they know (their definitions are
    up to a second old); one that numbers a version another daemon made first reads that one
    and numbers again, so every daemon reads every version alike and no PUT is lost."""
    _, url = fresh_db(pg)
    d1 = launch_pg(launch, url, "--migrate", "true")
    d2 = launch_pg(launch, url)
    must_put(d1, "race", QUICK)
    wait_until(lambda: get_json(d2, "/v1/workflows/race")[0] == 200, 10.0, 0.1, "d2 knows race")
    versions = {1: QUICK}
    for i in range(6):
        for d, who in ((d1, "d1"), (d2, "d2")):  # at once: the other may not know the last one yet
            definition = {"steps": [{"id": f"{who}-{i}", "type": "noop"}]}
            st, doc = call(d, "PUT", "/v1/workflows/race", definition)
            assert st == 201 and doc["version"] not in versions, (who, i, st, doc, sorted(versions))
            versions[doc["version"]] = definition
    assert sorted(versions) == list(range(1, 14)), sorted(versions)  # no gap, nothing doubled
    wait_until(lambda: get_json(d1, "/v1/workflows/race")[1]["version"] == 13, 10.0, 0.1,
               "d1 has every version")
    for v, definition in versions.items():
        for d in (d1, d2):
            st, doc = get_json(d, f"/v1/workflows/race?version={v}")
            assert st == 200 and doc["definition"] == definition, (v, st, doc)
