"""Namespaces (tenants): /v1/namespaces/{ns}/... serves namespace ns, the same path without the
prefix the namespace `default`. Nothing of one namespace is visible or changeable from another:
workflows, listings, GET by id, commands, event streams, dead-letter, idempotency keys. Both
ways, on both stores (the system-pg suite runs this file on PostgreSQL), and after a restart
(finished runs are then read from the history store).
"""

from __future__ import annotations

from urllib.parse import urlencode

from engine_client import (ERR_INVALID_ARGUMENT, ERR_RUN_NOT_FOUND, ERR_WORKFLOW_NOT_FOUND,
                           SseStream, assert_error, call, get_json, kill9, relaunch, sse_events,
                           wait_until)

APPROVAL = {"steps": [{"id": "gate", "type": "approval"},
                      {"id": "after", "type": "noop", "depends_on": ["gate"]}]}
QUICK = {"steps": [{"id": "only", "type": "transform", "output": {"ns": "{{input.ns}}"}}]}
# Loopback is denied by the outbound policy: the step fails at once, without retries.
FAILS = {"steps": [{"id": "bad", "type": "http",
                    "request": {"method": "GET", "url": "http://127.0.0.1:9/unreachable"},
                    "retry": {"max_attempts": 1}}]}


def base(ns: str | None) -> str:
    return "/v1" if ns is None else f"/v1/namespaces/{ns}"


def put(d, ns, name, definition):
    st, doc = call(d, "PUT", f"{base(ns)}/workflows/{name}", definition)
    assert st in (200, 201), (st, doc)
    return doc


def start(d, ns, name, input=None, key=None, wait=None):
    path = f"{base(ns)}/workflows/{name}/runs" + (f"?wait={wait}" if wait else "")
    headers = {"Idempotency-Key": key} if key else None
    return call(d, "POST", path, {"input": input or {}}, headers)


def get_run(d, ns, rid):
    return get_json(d, f"{base(ns)}/runs/{rid}")


def runs(d, ns, **q):
    st, doc = get_json(d, f"{base(ns)}/runs" + (f"?{urlencode(q)}" if q else ""))
    assert st == 200, (st, doc)
    return [r["id"] for r in doc["runs"]], doc["runs"]


def wait_status(d, ns, rid, statuses, timeout=15.0):
    def ready():
        st, doc = get_run(d, ns, rid)
        return doc if st == 200 and doc["status"] in statuses else None
    return wait_until(ready, timeout, what=f"run {rid} in {statuses}")


def test_workflows_of_the_same_name_are_separate(launch):
    d = launch()
    put(d, None, "orders", QUICK)
    put(d, "team-a", "orders", APPROVAL)
    doc = put(d, "team-b", "orders", QUICK)
    assert doc["namespace"] == "team-b" and doc["name"] == "orders"

    for ns, steps in ((None, 1), ("team-a", 2), ("team-b", 1)):
        st, doc = get_json(d, f"{base(ns)}/workflows")
        assert st == 200
        assert [(w["name"], w["steps"]) for w in doc["workflows"]] == [("orders", steps)], (ns, doc)
        st, one = get_json(d, f"{base(ns)}/workflows/orders")
        assert st == 200 and one["namespace"] == (ns or "default") and one["name"] == "orders"
        assert len(one["definition"]["steps"]) == steps

    # Deleting one namespace's workflow leaves the others.
    st, _ = call(d, "DELETE", "/v1/namespaces/team-b/workflows/orders")
    assert st == 200
    assert_error(get_json(d, "/v1/namespaces/team-b/workflows/orders"), 404, ERR_WORKFLOW_NOT_FOUND)
    assert get_json(d, "/v1/workflows/orders")[0] == 200
    assert get_json(d, "/v1/namespaces/team-a/workflows/orders")[0] == 200
    # A workflow only another namespace has cannot be started here.
    put(d, "team-c", "only-c", QUICK)
    assert_error(start(d, None, "only-c"), 404, ERR_WORKFLOW_NOT_FOUND)
    assert_error(start(d, "team-a", "only-c"), 404, ERR_WORKFLOW_NOT_FOUND)


def test_runs_are_invisible_and_untouchable_from_another_namespace(launch):
    d = launch()
    for ns in (None, "team-a", "team-b"):
        put(d, ns, "gate", APPROVAL)
    st, run_a = start(d, "team-a", "gate", {"who": "a"})
    assert st == 201 and run_a["namespace"] == "team-a" and run_a["workflow"] == "gate"
    st, run_d = start(d, None, "gate", {"who": "default"})
    assert st == 201 and run_d["namespace"] == "default"
    a, dflt = run_a["id"], run_d["id"]
    wait_status(d, "team-a", a, {"waiting"})

    for ns, rid in ((None, a), ("team-b", a), ("team-a", dflt), ("team-b", dflt)):
        assert_error(get_run(d, ns, rid), 404, ERR_RUN_NOT_FOUND)
        assert_error(call(d, "POST", f"{base(ns)}/runs/{rid}/signals/gate", {}), 404, ERR_RUN_NOT_FOUND)
        assert_error(call(d, "POST", f"{base(ns)}/runs/{rid}/cancel"), 404, ERR_RUN_NOT_FOUND)
        assert_error(call(d, "POST", f"{base(ns)}/runs/{rid}/retry"), 404, ERR_RUN_NOT_FOUND)
        ev = sse_events(d, f"{base(ns)}/runs/{rid}/events", timeout=3.0)
        assert ev.status == 404, (ns, rid, ev.resp)
    # Nothing above changed the runs.
    assert get_run(d, "team-a", a)[1]["status"] == "waiting"
    assert get_run(d, None, dflt)[1]["status"] == "waiting"

    assert runs(d, "team-a")[0] == [a]
    assert runs(d, None)[0] == [dflt]
    assert runs(d, "team-b")[0] == []
    assert runs(d, "team-b", workflow="gate")[0] == []
    assert all(r["namespace"] == "team-a" for r in runs(d, "team-a")[1])

    # The owner's namespace can act.
    st, doc = call(d, "POST", f"/v1/namespaces/team-a/runs/{a}/signals/gate", {})
    assert st == 200, doc
    assert wait_status(d, "team-a", a, {"succeeded"})["namespace"] == "team-a"


def test_idempotency_keys_are_per_namespace(launch):
    d = launch()
    for ns in (None, "team-a", "team-b"):
        put(d, ns, "quick", QUICK)
    ids = {}
    for ns in (None, "team-a", "team-b"):
        st, doc = start(d, ns, "quick", {"ns": ns or "default"}, key="same-key")
        assert st == 201, (ns, doc)
        ids[ns] = doc["id"]
        st, again = start(d, ns, "quick", {"ns": ns or "default"}, key="same-key")
        assert st == 200 and again["id"] == doc["id"], (ns, again)
    assert len(set(ids.values())) == 3


def test_workflow_event_stream_carries_only_its_namespace(launch):
    d = launch()
    put(d, "team-a", "quick", QUICK)
    put(d, "team-b", "quick", QUICK)
    with SseStream(d, "/v1/namespaces/team-b/events?workflow=quick") as s:
        assert s.status == 200
        start(d, "team-a", "quick", {"ns": "team-a"})
        st, doc = start(d, "team-b", "quick", {"ns": "team-b"})
        assert st == 201
        assert s.read_until(lambda f: f.event == "run.succeeded", 10.0) is not None
        s.read_for(0.5)  # team-a's events, if they leaked, would be here by now
        frames = list(s.frames)
    seen = {f.json["run"] for f in frames if f.kind == "event"}
    assert seen == {doc["id"]}
    created = [f.json for f in frames if f.kind == "event" and f.event == "run.created"]
    assert created and created[0]["data"]["namespace"] == "team-b"
    assert created[0]["data"]["workflow"] == "quick"
    # A stream of a workflow only another namespace has: 404.
    assert_error(get_json(d, "/v1/events?workflow=quick"), 404, ERR_WORKFLOW_NOT_FOUND)


def test_dead_letter_and_history_after_restart(launch):
    d = launch()
    put(d, "team-a", "fails", FAILS)
    put(d, None, "fails", FAILS)
    put(d, "team-a", "quick", QUICK)
    st, fa = start(d, "team-a", "fails", wait="10s")
    assert st in (200, 201) and fa["status"] == "failed", fa
    st, fd = start(d, None, "fails", wait="10s")
    assert fd["status"] == "failed", fd
    st, qa = start(d, "team-a", "quick", {"ns": "team-a"}, key="k1", wait="10s")
    assert qa["status"] == "succeeded", qa

    def dead(ns):
        st, doc = get_json(d, f"{base(ns)}/dead-letter")
        assert st == 200, doc
        return [r["id"] for r in doc["runs"]]

    assert dead("team-a") == [fa["id"]] and dead(None) == [fd["id"]] and dead("team-b") == []

    kill9(d)
    d = relaunch(launch, d)
    assert dead("team-a") == [fa["id"]] and dead(None) == [fd["id"]] and dead("team-b") == []
    assert runs(d, "team-a")[0] == [qa["id"], fa["id"]]
    assert runs(d, None)[0] == [fd["id"]]
    assert runs(d, "team-a", workflow="quick")[0] == [qa["id"]]
    assert runs(d, "team-a", status="failed")[0] == [fa["id"]]
    assert runs(d, None, status="succeeded")[0] == []
    st, doc = get_run(d, "team-a", qa["id"])
    assert st == 200 and doc["namespace"] == "team-a" and doc["output"] == {"only": {"ns": "team-a"}}
    assert_error(get_run(d, None, qa["id"]), 404, ERR_RUN_NOT_FOUND)
    ev = sse_events(d, f"/v1/namespaces/team-a/runs/{qa['id']}/events", timeout=5.0)
    assert ev.status == 200 and ev.ended
    assert sse_events(d, f"/v1/runs/{qa['id']}/events", timeout=3.0).status == 404
    # The idempotency key still meets its run after the restart, and only in its namespace.
    st, again = start(d, "team-a", "quick", {"ns": "team-a"}, key="k1")
    assert st == 200 and again["id"] == qa["id"]
    # A retry of the failed run from another namespace: 404, and it stays failed.
    assert_error(call(d, "POST", f"/v1/runs/{fa['id']}/retry"), 404, ERR_RUN_NOT_FOUND)
    assert get_run(d, "team-a", fa["id"])[1]["status"] == "failed"
    # Workflows of namespaces came back from the definitions journal.
    assert get_json(d, "/v1/namespaces/team-a/workflows/quick")[0] == 200


def test_bad_namespace_names(launch):
    d = launch()
    for bad in ("Team", "-x", "a_b", "x" * 64, "a.b", "%2e%2e"):
        for method, path in (("GET", "/workflows"), ("PUT", "/workflows/w"), ("GET", "/runs"),
                             ("POST", "/workflows/w/runs")):
            body = QUICK if method == "PUT" else ({} if method == "POST" else None)
            reply = call(d, method, f"/v1/namespaces/{bad}{path}", body)
            assert_error(reply, 400, ERR_INVALID_ARGUMENT)
            assert "namespace" in reply.json["error"]["message"]
    # A name in the body cannot reach into another namespace ('/' is not a name character).
    st, doc = call(d, "PUT", "/v1/workflows/x", {"name": "team-a/x", **QUICK})
    assert st == 422, doc
    assert get_json(d, "/v1/namespaces/team-a/workflows")[1]["workflows"] == []
    # A namespace nobody used is empty, not an error.
    assert get_json(d, "/v1/namespaces/never-used/runs")[1]["runs"] == []
