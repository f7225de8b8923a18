"""The audit log (issue 12, deliverable 7) against the real daemon, on the store under test
(RINGFLOW_TEST_STORE=embedded: files under <data>/audit; postgres: the audit_log table).

Invariants checked here:
- Every request other than GET/HEAD that reached a /v1 route is one entry, whatever answered
  it: the handler (201, 404, 422), the content-type check (415) and the admission (401
  without a credential, 403 for a wrong role or namespace); over HTTP/2 too. GETs, /health and
  paths without a route are not recorded.
- An entry says when (ms), who (key:<id>, "unauthenticated", or "anonymous" with --auth off),
  the namespace, method, route pattern, target (the path parameters), status and X-Request-Id.
- GET /v1/audit is for admins only; an admin of namespace a reads a's entries through
  /v1/namespaces/a/audit and nobody else's; /v1/audit is the default namespace's. Newest first,
  since/until/limit/before (cursor) filter and page it; bad values are 400.
- kill -9 and a restart keep the entries that were readable before the kill.
- With PostgreSQL away the log fails closed: once the per-shard queue is full, mutations are
  refused with 503 before they run; nothing is dropped, and the entries arrive once it is back.
"""

from __future__ import annotations

import time

import pytest

import rfclient
from conftest import store_under_test
from engine_client import assert_error, call, kill9, relaunch, request, wait_until
from h2client import H2Client
from test_auth import ADMIN, api, assert_401, assert_403, make_key

WF = {"steps": [{"id": "a", "type": "noop"}]}


def audit(d, token=ADMIN, ns=None, query=""):
    path = "/v1/audit" if ns is None else f"/v1/namespaces/{ns}/audit"
    r, doc = api(d, "GET", path + query, token)
    assert r.status == 200, r
    return doc


def wait_entries(d, n, token=ADMIN, ns=None, query=""):
    """The page once it holds at least n entries (entries are durable a few ms after the answer)."""
    return wait_until(lambda: (lambda doc: doc if len(doc["entries"]) >= n else None)(
        audit(d, token, ns, query)), 10.0, 0.05, f"{n} audit entries")


@pytest.fixture
def authd(launch):
    return launch("--auth", "on", env={"RINGFLOW_ADMIN_KEY": ADMIN})


def test_every_mutation_is_recorded_with_who_what_and_outcome(authd):
    d = authd
    dev = make_key(d, "developer")
    viewer = make_key(d, "viewer")
    other_ns = make_key(d, "admin", ns="elsewhere")
    t0 = int(time.time() * 1000)
    assert api(d, "PUT", "/v1/workflows/w1", dev["key"], WF,
               headers={"X-Request-Id": "req-42"})[0].status == 201
    assert api(d, "POST", "/v1/workflows/nope/runs", dev["key"])[0].status == 404
    assert api(d, "PUT", "/v1/workflows/bad", dev["key"], {"steps": []})[0].status == 422
    assert_403(api(d, "DELETE", "/v1/workflows/w1", viewer["key"])[0])
    assert_403(api(d, "DELETE", "/v1/workflows/w1", other_ns["key"])[0])
    assert_401(api(d, "POST", "/v1/workflows/w1/runs", None)[0])
    assert api(d, "PUT", "/v1/workflows/w1", dev["key"], WF, ctype="text/plain")[0].status == 415
    # Not recorded: reads, operational routes, paths without a route.
    assert api(d, "GET", "/v1/workflows", dev["key"])[0].status == 200
    assert api(d, "GET", "/health")[0].status == 200
    assert api(d, "POST", "/v1/no-such-route", dev["key"], {})[0].status == 404
    # Over HTTP/2 as well.
    h2 = H2Client(d.port)
    try:
        sid = h2.request("POST", "/v1/workflows/w1/runs", b"{}", {"authorization": f"Bearer {dev['key']}"})
        assert h2.response(sid).status == 201
    finally:
        h2.close()

    # The three key creations came first (by the bootstrap admin key), then these 8.
    doc = wait_entries(d, 11)
    entries = doc["entries"]
    assert doc["namespace"] == "default" and len(entries) == 11, entries
    ids = [int(e["id"]) for e in entries]
    assert ids == sorted(ids, reverse=True), ids
    got = [(e["method"], e["route"], e["target"], e["status"], e["subject"]) for e in entries[:8]]
    k = lambda key: f"key:{key['id']}"  # noqa: E731
    assert got == [
        ("POST", "/v1/workflows/{name}/runs", {"name": "w1"}, 201, k(dev)),
        ("PUT", "/v1/workflows/{name}", {"name": "w1"}, 415, k(dev)),
        ("POST", "/v1/workflows/{name}/runs", {"name": "w1"}, 401, "unauthenticated"),
        ("DELETE", "/v1/workflows/{name}", {"name": "w1"}, 403, k(other_ns)),
        ("DELETE", "/v1/workflows/{name}", {"name": "w1"}, 403, k(viewer)),
        ("PUT", "/v1/workflows/{name}", {"name": "bad"}, 422, k(dev)),
        ("POST", "/v1/workflows/{name}/runs", {"name": "nope"}, 404, k(dev)),
        ("PUT", "/v1/workflows/{name}", {"name": "w1"}, 201, k(dev)),
    ], got
    assert entries[7]["request_id"] == "req-42" and entries[6]["request_id"] is None, entries
    assert entries[8]["route"] == "/v1/keys" and entries[8]["subject"] == "key:bootstrap", entries[8]
    now = int(time.time() * 1000)
    assert all(t0 - 1000 <= e["at_ms"] <= now + 1000 for e in entries[:8]), entries
    samples = rfclient.scrape(d.port)
    assert rfclient.metric_sum(samples, "rf_audit_written_total") >= 11
    assert rfclient.metric_sum(samples, "rf_audit_rejected_total") == 0


def test_only_admins_read_and_each_namespace_its_own(authd):
    d = authd
    admin_a = make_key(d, "admin", ns="team-a")["key"]
    dev_a = make_key(d, "developer", ns="team-a")["key"]
    # A mutation in team-a and one in default.
    assert api(d, "PUT", "/v1/namespaces/team-a/secrets/X", dev_a, {"value": "v"})[0].status == 409
    assert api(d, "PUT", "/v1/workflows/w", ADMIN, WF)[0].status == 201
    doc = wait_entries(d, 1, admin_a, ns="team-a")
    assert [(e["route"], e["target"], e["status"], e["namespace"]) for e in doc["entries"]] == [
        ("/v1/namespaces/{ns}/secrets/{name}", {"name": "X"}, 409, "team-a")], doc
    # team-a's admin cannot read default's or team-b's; the "*" admin reads default via /v1/audit.
    assert_403(api(d, "GET", "/v1/audit", admin_a)[0])
    assert_403(api(d, "GET", "/v1/namespaces/team-b/audit", admin_a)[0])
    for role in ("operator", "developer", "viewer"):
        assert_403(api(d, "GET", "/v1/audit", make_key(d, role)["key"])[0])
    assert_403(api(d, "GET", "/v1/namespaces/team-a/audit", dev_a)[0])
    assert_401(api(d, "GET", "/v1/audit")[0])
    default = wait_entries(d, 1)
    assert all(e["namespace"] == "default" for e in default["entries"]), default
    assert any(e["route"] == "/v1/workflows/{name}" for e in default["entries"]), default
    assert not any("team-a" in str(e["target"]) or e["namespace"] == "team-a" for e in default["entries"])


def test_filters_and_pages(launch):
    d = launch()  # --auth off: every entry's subject is anonymous
    for i in range(5):
        assert call(d, "PUT", f"/v1/workflows/p{i}", WF).status == 201
        time.sleep(0.02)
    doc = wait_entries(d, 5, None)
    entries = doc["entries"]
    assert all(e["subject"] == "anonymous" for e in entries), entries
    assert [e["target"]["name"] for e in entries] == ["p4", "p3", "p2", "p1", "p0"]
    first = audit(d, None, query="?limit=2")
    assert [e["target"]["name"] for e in first["entries"]] == ["p4", "p3"] and first["next_cursor"], first
    second = audit(d, None, query=f"?limit=2&before={first['next_cursor']}")
    assert [e["target"]["name"] for e in second["entries"]] == ["p2", "p1"], second
    third = audit(d, None, query=f"?limit=2&before={second['next_cursor']}")
    assert [e["target"]["name"] for e in third["entries"]] == ["p0"] and third["next_cursor"] is None, third
    mid = entries[2]["at_ms"]
    since = audit(d, None, query=f"?since={mid}")
    assert all(e["at_ms"] >= mid for e in since["entries"]) and len(since["entries"]) >= 3, since
    until = audit(d, None, query=f"?until={mid}")
    assert all(e["at_ms"] < mid for e in until["entries"]) and "p2" not in str(until), until
    assert audit(d, None, query="?since=1&until=2")["entries"] == []
    for q in ("?limit=0", "?limit=1001", "?limit=x", "?since=-1", "?before=abc", "?before=0", "?nope=1"):
        assert_error(call(d, "GET", "/v1/audit" + q), 400, "invalid_argument")
    assert_error(call(d, "GET", "/v1/namespaces/Not_Valid/audit"), 400, "invalid_argument")


def test_kill9_and_restart_keep_the_entries(launch):
    d = launch()
    for i in range(3):
        assert call(d, "PUT", f"/v1/workflows/k{i}", WF).status == 201
    before = wait_entries(d, 3, None)["entries"]
    kill9(d)
    d2 = relaunch(launch, d)
    after = audit(d2, None)["entries"]
    assert after[:3] == before[:3], (before, after)
    assert call(d2, "PUT", "/v1/workflows/k9", WF).status == 201
    newest = wait_entries(d2, 4, None)["entries"]
    assert newest[0]["target"] == {"name": "k9"} and int(newest[0]["id"]) > int(before[0]["id"]), newest


@pytest.mark.skipif(store_under_test() != "postgres", reason="stops PostgreSQL: RINGFLOW_TEST_STORE=postgres")
def test_with_the_store_away_the_log_fails_closed_and_loses_nothing(launch, pg):
    d = launch("--auth", "on", "--audit-queue", "16", "--shards", "1", env={"RINGFLOW_ADMIN_KEY": ADMIN})
    pg.stop()
    try:
        statuses = []
        for _ in range(24):  # 401s need no store, but each one is an entry to keep
            statuses.append(request(d, "POST", "/v1/workflows/w/runs", {}).status)
        assert statuses[:16] == [401] * 16, statuses
        assert set(statuses[16:]) == {503}, statuses
        r = request(d, "POST", "/v1/workflows/w/runs", {})
        err = rfclient.assert_json_error(r, 503)["error"]
        assert "audit log is full" in err["message"] and r.header("retry-after") == "1", err
        samples = rfclient.scrape(d.port)
        assert rfclient.metric_sum(samples, "rf_audit_rejected_total") == 9
        assert rfclient.metric_sum(samples, "rf_audit_queue_entries") == 16
    finally:
        pg.start()
    doc = wait_until(lambda: (lambda r: r[1] if r[0].status == 200 and len(r[1]["entries"]) >= 16 else None)(
        api(d, "GET", "/v1/audit?limit=100", ADMIN)), 30.0, 0.2, "the queued entries written")
    unauth = [e for e in doc["entries"] if e["subject"] == "unauthenticated"]
    assert len(unauth) == 16 and all(e["status"] == 401 for e in unauth), doc
    assert request(d, "POST", "/v1/workflows/w/runs", {}).status == 401  # room again
    assert rfclient.metric_sum(rfclient.scrape(d.port), "rf_audit_dropped_total") == 0
