"""Event triggers: POST /v1/events/{type} starts a run of every workflow of the namespace whose
definition lists a trigger for that type and whose trigger condition holds for the body (the
run's input). An Idempotency-Key makes a repeated event meet the runs it started, also after a
restart. A trigger naming a secret fires only for events signed with it (X-Signature: sha256=
HMAC of the body); otherwise the whole event is refused with 401 and nothing starts. Both stores
(the system-pg suite runs this file on PostgreSQL)."""

from __future__ import annotations

import hashlib
import hmac
import json

from engine_client import (ERR_INVALID_ARGUMENT, ERR_INVALID_DEFINITION, ERR_UNSUPPORTED_MEDIA,
                           assert_error, call, get_json, kill9, relaunch, validation_errors,
                           wait_until)
from test_secrets import key_file, put_secret  # noqa: F401 (key_file is a fixture)

STEPS = [{"id": "only", "type": "noop"}]


def wf(*triggers):
    return {"steps": STEPS, "triggers": list(triggers)}


def put(d, name, definition, ns=None):
    base = "/v1" if ns is None else f"/v1/namespaces/{ns}"
    return call(d, "PUT", f"{base}/workflows/{name}", definition)


def emit(d, event, body=None, key=None, ns=None):
    base = "/v1" if ns is None else f"/v1/namespaces/{ns}"
    headers = {"Idempotency-Key": key} if key else None
    return call(d, "POST", f"{base}/events/{event}", body if body is not None else {}, headers)


def started(reply) -> dict[str, str]:
    st, doc = reply
    assert st in (200, 201), (st, doc)
    return {r["workflow"]: r["id"] for r in doc["runs"]}


def test_an_event_starts_every_subscribed_workflow_whose_condition_holds(launch):
    d = launch()
    assert put(d, "ship", wf({"event": "order.created"}))[0] == 201
    assert put(d, "vip", wf({"event": "order.created", "when": "input.total > 100"}))[0] == 201
    assert put(d, "refund", wf({"event": "order.refunded"}))[0] == 201
    assert put(d, "plain", {"steps": STEPS})[0] == 201

    st, doc = emit(d, "order.created", {"total": 50})
    assert st == 201 and doc["event"] == "order.created" and doc["namespace"] == "default"
    runs = {r["workflow"]: r for r in doc["runs"]}
    assert set(runs) == {"ship"} and runs["ship"]["created"] is True
    assert set(started(emit(d, "order.created", {"total": 500}))) == {"ship", "vip"}
    # The event body is the run's input.
    rid = runs["ship"]["id"]
    st, run = get_json(d, f"/v1/runs/{rid}")
    assert st == 200 and run["input"] == {"total": 50} and run["workflow"] == "ship"
    # Nothing subscribes: 200 with no runs.
    st, doc = emit(d, "nobody.listens")
    assert st == 200 and doc["runs"] == []


def test_idempotency_key_meets_the_runs_started_before_also_after_a_restart(launch):
    d = launch()
    put(d, "a", wf({"event": "paid"}))
    put(d, "b", wf({"event": "paid"}, {"event": "shipped"}))
    first = started(emit(d, "paid", {"n": 1}, key="evt-1"))
    assert set(first) == {"a", "b"}
    st, doc = emit(d, "paid", {"n": 1}, key="evt-1")
    assert st == 200 and all(r["created"] is False for r in doc["runs"])
    assert started((st, doc)) == first
    # The same key for another event type is another event.
    other = started(emit(d, "shipped", {"n": 1}, key="evt-1"))
    assert set(other) == {"b"} and other["b"] != first["b"]

    kill9(d)
    d = relaunch(launch, d)
    st, doc = emit(d, "paid", {"n": 1}, key="evt-1")
    assert st == 200 and started((st, doc)) == first
    # Triggers came back with the definitions.
    assert set(started(emit(d, "paid", {"n": 2}))) == {"a", "b"}


def test_events_stay_in_their_namespace(launch):
    d = launch()
    put(d, "hook", wf({"event": "push"}))
    put(d, "hook", wf({"event": "push"}), ns="team-a")
    st, doc = emit(d, "push", ns="team-a")
    assert st == 201 and doc["namespace"] == "team-a" and [r["workflow"] for r in doc["runs"]] == ["hook"]
    rid = doc["runs"][0]["id"]
    assert get_json(d, f"/v1/namespaces/team-a/runs/{rid}")[0] == 200
    assert get_json(d, f"/v1/runs/{rid}")[0] == 404
    st, doc = emit(d, "push", ns="team-b")
    assert st == 200 and doc["runs"] == []


def test_a_new_version_or_a_delete_changes_what_an_event_starts(launch):
    d = launch()
    put(d, "w", wf({"event": "x"}))
    assert set(started(emit(d, "x"))) == {"w"}
    assert put(d, "w", wf({"event": "y"})).json["version"] == 2  # listens to y only
    assert started(emit(d, "x")) == {}
    assert set(started(emit(d, "y"))) == {"w"}
    assert call(d, "DELETE", "/v1/workflows/w")[0] == 200
    assert started(emit(d, "y")) == {}


def test_bad_triggers_are_422_with_pointers(launch):
    d = launch()
    cases = [
        ({"steps": STEPS, "triggers": {"event": "x"}}, "/triggers"),
        (wf("x"), "/triggers/0"),
        (wf({}), "/triggers/0/event"),
        (wf({"event": "has space"}), "/triggers/0/event"),
        (wf({"event": "x" * 129}), "/triggers/0/event"),
        (wf({"event": "x"}, {"event": "x"}), "/triggers/1/event"),
        (wf({"event": "x", "when": "{{steps.only.status}} == 'succeeded'"}), "/triggers/0/when"),
        (wf({"event": "x", "when": "input.a >"}), "/triggers/0/when"),
        (wf({"event": "x", "evnt": "y"}), "/triggers/0/evnt"),
        (wf(*[{"event": f"e{i}"} for i in range(17)]), "/triggers"),
        (wf({"event": "x", "secret": "no.dots"}), "/triggers/0/secret"),
        (wf({"event": "x", "secret": ""}), "/triggers/0/secret"),
        (wf({"event": "x", "secret": 7}), "/triggers/0/secret"),
    ]
    for definition, pointer in cases:
        reply = put(d, "bad", definition)
        assert_error(reply, 422, ERR_INVALID_DEFINITION)
        assert pointer in [e["field"] for e in validation_errors(reply)], (pointer, reply.json)
    assert get_json(d, "/v1/workflows/bad")[0] == 404


def test_bad_event_requests(launch):
    d = launch()
    put(d, "w", wf({"event": "x"}))
    assert_error(emit(d, "bad%20type"), 400, ERR_INVALID_ARGUMENT)
    assert_error(call(d, "POST", "/v1/events/x", b"{not json"), 400, "invalid_json")
    assert_error(call(d, "POST", "/v1/events/x", b"{}", content_type="text/plain"), 415, ERR_UNSUPPORTED_MEDIA)
    assert_error(emit(d, "x", key="k\u00e9y".encode().decode("latin-1")), 400, ERR_INVALID_ARGUMENT)
    assert_error(call(d, "POST", "/v1/events/x?wait=1s", {}), 400, ERR_INVALID_ARGUMENT)
    # None of that started anything.
    wait_until(lambda: get_json(d, "/v1/runs?workflow=w")[1]["runs"] == [], 2.0, what="no runs")


def sign(secret: str, raw: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def emit_raw(d, event, raw: bytes, signature=None, ns=None):
    base = "/v1" if ns is None else f"/v1/namespaces/{ns}"
    headers = {"X-Signature": signature} if signature is not None else None
    return call(d, "POST", f"{base}/events/{event}", raw, headers)


def runs_of(d, name):
    return get_json(d, f"/v1/runs?workflow={name}")[1]["runs"]


def test_a_signed_trigger_fires_only_for_events_signed_with_its_secret(launch, key_file):
    d = launch("--secrets-key-file", str(key_file))
    assert put_secret(d, "HOOK", "hook-secret-1")[0].status == 201
    assert put_secret(d, "OTHER", "other-secret-2")[0].status == 201
    assert put(d, "signed", wf({"event": "push", "secret": "HOOK"}))[0] == 201
    assert put(d, "open", wf({"event": "push"}))[0] == 201
    raw = json.dumps({"ref": "main", "n": 1}).encode()

    # Unsigned, wrongly signed, signed with another secret, or over other bytes: 401, and not
    # even the unsigned subscriber starts.
    for sig in (None, "", "sha256=" + "0" * 64, sign("other-secret-2", raw), "md5=abc",
                sign("hook-secret-1", raw + b" ")):
        reply = emit_raw(d, "push", raw, sig)
        err = assert_error(reply, 401, "invalid_signature")
        assert "HOOK" in err["message"] and "hook-secret-1" not in reply.resp.body.decode()
        assert (reply.resp.header("www-authenticate") or "").startswith("Signature")
    assert runs_of(d, "signed") == [] and runs_of(d, "open") == []

    # The right signature (upper-case hex too, or among several) starts both.
    assert set(started(emit_raw(d, "push", raw, sign("hook-secret-1", raw)))) == {"signed", "open"}
    upper = "sha256=" + sign("hook-secret-1", raw)[7:].upper()
    assert set(started(emit_raw(d, "push", raw, upper))) == {"signed", "open"}
    several = sign("other-secret-2", raw) + ", " + sign("hook-secret-1", raw)
    assert set(started(emit_raw(d, "push", raw, several))) == {"signed", "open"}
    rid = started(emit_raw(d, "push", raw, sign("hook-secret-1", raw)))["signed"]
    assert get_json(d, f"/v1/runs/{rid}")[1]["input"] == {"ref": "main", "n": 1}

    # A trigger whose condition does not hold asks for no signature.
    assert put(d, "signed", wf({"event": "push", "secret": "HOOK", "when": "input.n > 5"}))[0] == 201
    assert set(started(emit_raw(d, "push", raw))) == {"open"}


def test_a_signing_secret_that_is_missing_refuses_the_event_and_survives_restart(launch, key_file):
    d = launch("--secrets-key-file", str(key_file))
    assert put(d, "w", wf({"event": "hook", "secret": "NOT_SET"}))[0] == 201
    raw = b"{}"
    err = assert_error(emit_raw(d, "hook", raw, sign("anything", raw)), 401, "invalid_signature")
    assert "NOT_SET" in err["message"]
    assert runs_of(d, "w") == []
    # Another namespace's secret of that name does not count.
    assert put_secret(d, "NOT_SET", "v", ns="team-b")[0].status == 201
    assert_error(emit_raw(d, "hook", raw, sign("v", raw)), 401, "invalid_signature")
    # Once set, and after kill -9 and a restart, the definition and the secret still work.
    assert put_secret(d, "NOT_SET", "now-set")[0].status == 201
    kill9(d)
    d2 = relaunch(launch, d, "--secrets-key-file", str(key_file))
    assert set(started(emit_raw(d2, "hook", raw, sign("now-set", raw)))) == {"w"}
    assert_error(emit_raw(d2, "hook", raw, sign("v", raw)), 401, "invalid_signature")
