"""Events across daemons: three daemons on one PostgreSQL database (the `pg` fixture's
private cluster) and one Redis (the session's private server, a database of its own per
test). Each daemon's outbox relay publishes what it drains to a Redis Stream that the others
read, so the event stream of a run, or of a workflow, may be opened on any daemon: history
from the database, then live events; Last-Event-ID resumes on another daemon."""

from __future__ import annotations

import itertools
import threading

import rfclient
from engine_client import (call, check_event_frames, must_put, sse_events, start, wait_terminal,
                           wait_until)
from test_pg_spread import shared_by
from test_pg_store import fresh_db, launch_pg

DELAYED = {"steps": [{"id": "a", "type": "noop"},
                     {"id": "wait", "type": "delay", "ms": 1500, "depends_on": ["a"]},
                     {"id": "b", "type": "noop", "depends_on": ["wait"]}]}
_db = itertools.count(1)


def cluster(launch, pg, redis_server, n=3):
    _, url = fresh_db(pg)
    redis = f"{redis_server.url}/{next(_db) % 16}"
    ds = [launch_pg(launch, url, "--migrate", "true", "--redis-url", redis)]
    ds += [launch_pg(launch, url, "--redis-url", redis) for _ in range(n - 1)]
    wait_until(lambda: shared_by(*ds), 20.0, 0.2, "the daemons share the partitions")
    must_put(ds[0], "delayed", DELAYED)
    wait_until(lambda: all(rfclient.metric_sum(rfclient.scrape(d.port), "rf_cluster_events_up") == 1
                           for d in ds), 10.0, 0.1, "every daemon reads the cluster's events")
    return ds


def seqs(res) -> list[int]:
    return [int(f.id) for f in res.events()]


def test_a_runs_stream_on_any_daemon_carries_every_event(launch, pg, redis_server):
    d1, d2, d3 = cluster(launch, pg, redis_server)
    wait_until(lambda: start(d2, "delayed")[0] == 201, 10.0, 0.1, "d2 knows the workflow")
    st, run = start(d1, "delayed")  # keyless: in a partition d1 holds
    assert st == 201, run
    rid = run["id"]
    out: dict[int, object] = {}

    def watch(d):
        out[d.port] = sse_events(d, f"/v1/runs/{rid}/events", timeout=15.0)

    threads = [threading.Thread(target=watch, args=(d,)) for d in (d1, d2, d3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for d in (d1, d2, d3):
        res = out[d.port]
        assert res.status == 200, (d.port, res.status, res.resp)
        types = [e["type"] for e in check_event_frames(res.events(), rid)]
        assert res.ended and types[-1] == "run.succeeded", (d.port, types)
        assert seqs(res) == list(range(1, len(types) + 1)), (d.port, seqs(res))
    assert [f.data for f in out[d2.port].events()] == [f.data for f in out[d1.port].events()]
    for d in (d2, d3):  # the live part came through Redis
        assert rfclient.metric_sum(rfclient.scrape(d.port), "rf_cluster_events_received_total") > 0
    assert rfclient.metric_sum(rfclient.scrape(d1.port), "rf_cluster_events_published_total") > 0


def test_last_event_id_resumes_on_another_daemon(launch, pg, redis_server):
    d1, d2, d3 = cluster(launch, pg, redis_server)
    st, run = start(d1, "delayed")
    assert st == 201, run
    rid = run["id"]
    done = wait_terminal(d1, rid, 15.0)
    assert done["status"] == "succeeded", done
    full = sse_events(d2, f"/v1/runs/{rid}/events", timeout=10.0)
    n = len(full.events())
    assert n >= 4 and full.ended, full
    rest = sse_events(d3, f"/v1/runs/{rid}/events", last_event_id=2, timeout=10.0)
    assert rest.status == 200 and rest.ended, rest.status
    assert seqs(rest) == list(range(3, n + 1)), seqs(rest)


def test_a_workflows_stream_on_one_daemon_sees_runs_held_by_the_others(launch, pg, redis_server):
    d1, d2, d3 = cluster(launch, pg, redis_server)
    wait_until(lambda: all(start(d, "delayed")[0] == 201 for d in (d2, d3)), 10.0, 0.2,
               "every daemon knows the workflow")
    result = {}

    def watch():
        result["res"] = sse_events(d2, "/v1/events?workflow=delayed", timeout=6.0)

    t = threading.Thread(target=watch)
    t.start()
    wait_until(lambda: rfclient.metric_sum(rfclient.scrape(d2.port), "rf_sse_subscribers") >= 1, 5.0, 0.05,
               "the workflow stream is open")
    ids = {start(d, "delayed")[1]["id"] for d in (d1, d3)}
    t.join(20)
    seen = {e["run"] for e in check_event_frames(result["res"].events()) if e["type"] == "run.created"}
    assert ids <= seen, (ids, seen)


def test_an_unknown_run_is_404_on_a_daemon_that_does_not_hold_its_partition(launch, pg, redis_server):
    d1, d2, _ = cluster(launch, pg, redis_server)
    st, run = start(d1, "delayed")
    assert st == 201, run
    # Same partition as a real run of d1's (the id embeds it), but no such run.
    rid = run["id"]
    fake = rid[:-4] + ("0000" if rid[-4:] != "0000" else "0001")
    res = sse_events(d2, f"/v1/runs/{fake}/events", timeout=5.0)
    assert res.status == 404, (res.status, res.resp)


def test_a_live_run_held_elsewhere_streams_only_in_its_namespace(launch, pg, redis_server):
    d1, d2 = cluster(launch, pg, redis_server, n=2)
    st, _ = call(d1, "PUT", "/v1/namespaces/team-a/workflows/delayed", DELAYED)
    assert st in (200, 201)
    wait_until(lambda: start_in(d2, "team-a")[0] == 201, 10.0, 0.1, "d2 knows the workflow")
    st, run = start_in(d1, "team-a")  # keyless: in a partition d1 holds, live for 1.5 s
    assert st == 201 and run["namespace"] == "team-a", run
    rid = run["id"]
    for other in ("/v1", "/v1/namespaces/team-b"):
        res = sse_events(d2, f"{other}/runs/{rid}/events", timeout=3.0)
        assert res.status == 404, (other, res.status)
    res = sse_events(d2, f"/v1/namespaces/team-a/runs/{rid}/events", last_event_id=1, timeout=15.0)
    assert res.status == 200 and res.ended, res.status
    assert seqs(res)[0] == 2 and res.events()[-1].event == "run.succeeded"


def start_in(d, ns):
    return call(d, "POST", f"/v1/namespaces/{ns}/workflows/delayed/runs", {})
