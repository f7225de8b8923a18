"""Bulk operations (issue 14, deliverable 7): POST /v1/operations cancels or retries every run of
the namespace that matches a filter, in the background at a bounded rate, with its progress at
GET /v1/operations/{id}. Both stores (the system-pg suite runs this file on PostgreSQL).

Invariants checked here:
* Cancel by workflow: every waiting run of it is cancelled, the other workflow's runs are not;
  the operation ends succeeded with matched = done; counted in /metrics.
* Retry of failed runs: each failed run runs again (one more attempt); a run that did not fail
  is never retried.
* The rate bound holds the work back, and POST .../cancel stops an operation midway: the runs
  it had not reached stay as they were.
* A creation-time window selects only the runs created inside it.
* Namespaces: an operation never touches another namespace's runs, nor is it visible there.
* Malformed requests are 400 naming the field; nothing starts.
"""

from __future__ import annotations

import time

from engine_client import (ERR_INVALID_ARGUMENT, ERR_UNSUPPORTED_MEDIA, assert_error, call, get_json,
                           get_run, must_put, must_start, now_ms, wait_status, wait_until)
from rfclient import metric_sum, scrape

HOLD = {"steps": [{"id": "gate", "type": "approval"}]}
FAIL = {"steps": [{"id": "call", "type": "http", "request": {"url": "http://127.0.0.1:1/"},
                   "retry": {"max_attempts": 1}, "timeout_ms": 2000}]}


def base(ns=None):
    return "/v1" if ns is None else f"/v1/namespaces/{ns}"


def start_op(d, body, ns=None):
    return call(d, "POST", f"{base(ns)}/operations", body)


def wait_op(d, op_id, ns=None, timeout=30.0):
    def done():
        st, op = get_json(d, f"{base(ns)}/operations/{op_id}")
        assert st == 200, (st, op)
        return op if op["state"] != "running" else None
    return wait_until(done, timeout, what=f"operation {op_id} to finish")


def statuses(d, ids):
    return [get_run(d, i).json["status"] for i in ids]


def hold_runs(d, name, n, ns=None):
    ids = []
    for _ in range(n):
        st, run = call(d, "POST", f"{base(ns)}/workflows/{name}/runs", {"input": {}})
        assert st == 201, (st, run)
        ids.append(run["id"])
    for i in ids:
        wait_until(lambda i=i: call(d, "GET", f"{base(ns)}/runs/{i}")[1]["status"] == "waiting", 10.0,
                   what=f"run {i} waiting")
    return ids


def test_cancel_by_workflow_leaves_the_others(launch):
    d = launch()
    must_put(d, "hold", HOLD)
    must_put(d, "keep", HOLD)
    held = hold_runs(d, "hold", 25)
    kept = hold_runs(d, "keep", 5)
    reply = start_op(d, {"action": "cancel", "filter": {"workflow": "hold"}, "max_per_second": 2000})
    assert reply.status == 202, reply
    op = reply.json
    assert op["action"] == "cancel" and op["filter"] == {"workflow": "hold"} and op["namespace"] == "default"
    assert reply.resp.header("location") == f"/v1/operations/{op['id']}"
    op = wait_op(d, op["id"])
    assert op["state"] == "succeeded" and op["matched"] == 25 and op["done"] == 25, op
    assert op["skipped"] == 0 and op["failed"] == 0 and op["errors"] == [] and op["finished_ms"] >= op["created_ms"]
    assert set(statuses(d, held)) == {"cancelled"}
    assert set(statuses(d, kept)) == {"waiting"}
    # Sent again: every run is already cancelled, so all are skipped.
    again = wait_op(d, start_op(d, {"action": "cancel", "filter": {"workflow": "hold"}}).json["id"])
    assert again["state"] == "succeeded" and again["done"] == 0 and again["skipped"] == 25, again
    listed = get_json(d, "/v1/operations")[1]["operations"]
    assert {o["id"] for o in listed} == {op["id"], again["id"]}
    m = scrape(d.port)
    assert metric_sum(m, "rf_bulk_operation_runs_total", outcome="done") == 25
    assert metric_sum(m, "rf_bulk_operation_runs_total", outcome="skipped") == 25
    assert metric_sum(m, "rf_bulk_operations_running") == 0


def test_retry_failed_runs_only(launch):
    d = launch()
    must_put(d, "flaky", FAIL)
    must_put(d, "hold", HOLD)
    failed = [must_start(d, "flaky")["id"] for _ in range(6)]
    for i in failed:
        wait_status(d, i, {"failed"})
    waiting = hold_runs(d, "hold", 2)
    op = wait_op(d, start_op(d, {"action": "retry", "filter": {"workflow": "flaky"}}).json["id"])
    assert op["state"] == "succeeded" and op["done"] == 6 and op["filter"]["status"] == "failed", op
    for i in failed:  # each ran again: a second attempt (which fails the same way)
        wait_until(lambda i=i: (r := get_run(d, i).json)["status"] == "failed" and
                   len(r["steps"][0]["attempts"]) == 2, 15.0, what=f"{i} retried")
    # Retry without a workflow filter still touches failed runs only.
    op = wait_op(d, start_op(d, {"action": "retry", "filter": {"created_after_ms": 1}}).json["id"])
    assert op["matched"] == 6, op
    assert set(statuses(d, waiting)) == {"waiting"}


def test_rate_bound_and_stopping_midway(launch):
    d = launch()
    must_put(d, "slow", HOLD)
    ids = hold_runs(d, "slow", 12)
    op = start_op(d, {"action": "cancel", "filter": {"workflow": "slow"}, "max_per_second": 2}).json
    # At 2 per second the 12 runs take about 6 s: stop it once it has done a few.
    wait_until(lambda: get_json(d, f"/v1/operations/{op['id']}")[1]["done"] >= 2, 10.0, what="2 done")
    st, stopped = call(d, "POST", f"/v1/operations/{op['id']}/cancel", b"", content_type="application/json")
    assert st == 200, stopped
    final = wait_op(d, op["id"])
    assert final["state"] == "cancelled" and 2 <= final["done"] < 12, final
    got = statuses(d, ids)
    assert got.count("cancelled") == final["done"] and got.count("waiting") == 12 - final["done"], got
    # Stopping a finished one changes nothing.
    st, again = call(d, "POST", f"/v1/operations/{op['id']}/cancel", b"", content_type="application/json")
    assert st == 200 and again["state"] == "cancelled" and again["done"] == final["done"]


def test_creation_window(launch):
    d = launch()
    must_put(d, "win", HOLD)
    old = hold_runs(d, "win", 4)
    time.sleep(0.05)
    cut = now_ms()
    time.sleep(0.05)
    new = hold_runs(d, "win", 3)
    op = wait_op(d, start_op(d, {"action": "cancel", "filter": {"created_before_ms": cut}}).json["id"])
    assert op["done"] == 4, op
    assert set(statuses(d, old)) == {"cancelled"} and set(statuses(d, new)) == {"waiting"}
    op = wait_op(d, start_op(d, {"action": "cancel", "filter": {"created_after_ms": cut, "status": "waiting"}}).json["id"])
    assert op["done"] == 3 and set(statuses(d, new)) == {"cancelled"}, op


def test_namespaces_are_apart(launch):
    d = launch()
    for ns in ("team-a", "team-b"):
        assert call(d, "PUT", f"{base(ns)}/workflows/w", HOLD)[0] == 201
    a = hold_runs(d, "w", 3, ns="team-a")
    b = hold_runs(d, "w", 3, ns="team-b")
    op = wait_op(d, start_op(d, {"action": "cancel", "filter": {"workflow": "w"}}, ns="team-a").json["id"], ns="team-a")
    assert op["done"] == 3 and op["namespace"] == "team-a", op
    assert {call(d, "GET", f"{base('team-a')}/runs/{i}")[1]["status"] for i in a} == {"cancelled"}
    assert {call(d, "GET", f"{base('team-b')}/runs/{i}")[1]["status"] for i in b} == {"waiting"}
    assert_error(get_json(d, f"{base('team-b')}/operations/{op['id']}"), 404, "operation_not_found")
    assert_error(get_json(d, f"/v1/operations/{op['id']}"), 404, "operation_not_found")
    assert get_json(d, f"{base('team-b')}/operations")[1]["operations"] == []


def test_bad_requests_are_400_and_start_nothing(launch):
    d = launch()
    cases = [
        ([], None),
        ({"filter": {"workflow": "w"}}, "/action"),
        ({"action": "delete", "filter": {"workflow": "w"}}, "/action"),
        ({"action": "cancel"}, "/filter"),
        ({"action": "cancel", "filter": {}}, "/filter"),
        ({"action": "cancel", "filter": {"workflow": "bad name"}}, "/filter/workflow"),
        ({"action": "cancel", "filter": {"status": "done"}}, "/filter/status"),
        ({"action": "cancel", "filter": {"created_after_ms": -5}}, "/filter/created_after_ms"),
        ({"action": "cancel", "filter": {"created_before_ms": "yesterday"}}, "/filter/created_before_ms"),
        ({"action": "cancel", "filter": {"created_after_ms": 10, "created_before_ms": 5}}, "/filter"),
        ({"action": "cancel", "filter": {"wrkflow": "w"}}, "/filter/wrkflow"),
        ({"action": "retry", "filter": {"status": "succeeded"}}, "/filter/status"),
        ({"action": "cancel", "filter": {"workflow": "w"}, "max_per_second": 0}, "/max_per_second"),
        ({"action": "cancel", "filter": {"workflow": "w"}, "max_per_second": 100000}, "/max_per_second"),
        ({"action": "cancel", "filter": {"workflow": "w"}, "extra": 1}, "/extra"),
    ]
    for body, field in cases:
        err = assert_error(start_op(d, body), 400, ERR_INVALID_ARGUMENT)
        if field:
            assert err.get("field") == field, (body, err)
    assert_error(call(d, "POST", "/v1/operations", b"{not json"), 400, "invalid_json")
    assert_error(call(d, "POST", "/v1/operations", b"{}", content_type="text/plain"), 415, ERR_UNSUPPORTED_MEDIA)
    for bad in ("nope", "op99-1-1", "op0-x", "op-1"):
        assert_error(get_json(d, f"/v1/operations/{bad}"), 404, "operation_not_found")
    assert get_json(d, "/v1/operations")[1]["operations"] == []
