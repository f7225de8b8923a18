"""Flow control per key (issue 14 item 4): a workflow's "concurrency": {"key", "limit"}.

At most `limit` runs per key value are live; the others are created `queued` (201), wait in
creation order and start as slots free; other keys are not held back; a queued run can be
cancelled; a kill -9 keeps queued runs queued in order and the limit held. Runs on the store
RINGFLOW_TEST_STORE names (embedded or postgres), like the other test_engine_* files.

Runs are kept live by an approval step: a started run waits for its signal ("waiting"), a
queued one is "queued" until a slot frees.
"""

from __future__ import annotations

import rfclient
from engine_client import (assert_error, call, cancel, get_json, get_run, kill9, list_runs, must_put,
                           must_start, put_workflow, relaunch, signal_run, sse_events,
                           check_event_frames, validation_errors, wait_status, wait_until)

LIMIT = 2
FC = {"concurrency": {"key": "{{input.customer}}", "limit": LIMIT},
      "steps": [{"id": "ok", "type": "approval"}]}


def _start(d, customer: str, n: int) -> list[str]:
    ids = []
    for i in range(n):
        st, doc = call(d, "POST", "/v1/workflows/fc/runs",
                       {"input": {"customer": customer, "i": i}})
        assert st == 201, (st, doc)
        ids.append(doc["id"])
    return ids


def _statuses(d, ids: list[str]) -> list[str]:
    out = []
    for i in ids:
        st, doc = get_run(d, i)
        assert st == 200, (st, doc)
        out.append(doc["status"])
    return out


def _approve(d, run_id: str) -> None:
    st, doc = signal_run(d, run_id, "ok", {"yes": True})
    assert st == 200, (st, doc)


def _keys(d, name: str = "fc") -> dict:
    st, doc = get_json(d, f"/v1/workflows/{name}/concurrency")
    assert st == 200, (st, doc)
    return doc


def _metric(d, name: str) -> float:
    resp = rfclient.get(d.port, "/metrics")
    assert resp.status == 200
    total = 0.0
    for n, _labels, v in rfclient.parse_metrics(resp.body.decode()):
        if n == name:
            total += v
    return total


def test_limit_holds_fifo_per_key_and_other_keys_run(launch):
    d = launch()
    must_put(d, "fc", FC)
    a = _start(d, "acme", 5)
    b = _start(d, "bolt", 1)
    # The first LIMIT of acme start (and wait for approval); the rest are queued; bolt runs.
    wait_until(lambda: _statuses(d, a) == ["waiting"] * LIMIT + ["queued"] * 3, 10.0,
               what="acme: 2 waiting, 3 queued")
    wait_status(d, b[0], "waiting")
    # Listed as queued, and the per-key view and the gauge agree.
    st, page = list_runs(d, workflow="fc", status="queued")
    assert st == 200, page
    assert sorted(r["id"] for r in page["runs"]) == sorted(a[2:])
    view = _keys(d)
    assert view["limit"] == LIMIT and view["queued"] == 3 and view["live"] == 3, view
    by_key = {k["key"]: k for k in view["keys"]}
    assert by_key["acme"]["live"] == 2 and by_key["acme"]["queued"] == 3, view
    assert by_key["bolt"]["live"] == 1 and by_key["bolt"]["queued"] == 0, view
    assert view["keys"][0]["key"] == "acme"  # busiest first
    assert _metric(d, "rf_flow_queued_runs") == 3
    # A queued run's signal is refused: its step has not started.
    st, _ = signal_run(d, a[3], "ok", {})
    assert st == 409
    # Slots free one at a time; the queue leaves in creation order, never above the limit.
    _approve(d, a[0])
    wait_status(d, a[0], "succeeded")
    wait_status(d, a[2], "waiting")
    assert _statuses(d, a[3:]) == ["queued", "queued"]
    # Cancelling a queued run takes it out of the queue; the next slot goes to the one behind.
    st, doc = cancel(d, a[3])
    assert st == 200 and doc["status"] == "cancelled", doc
    _approve(d, a[1])
    wait_status(d, a[4], "waiting")
    assert _statuses(d, a) == ["succeeded", "succeeded", "waiting", "cancelled", "waiting"]
    assert _keys(d)["queued"] == 0
    assert _metric(d, "rf_flow_dequeued_total") == 2
    for i in (a[2], a[4], b[0]):
        _approve(d, i)
        wait_status(d, i, "succeeded")
    wait_until(lambda: _keys(d)["keys"] == [], 5.0, what="no keys left")
    assert _metric(d, "rf_flow_queued_runs") == 0 and _metric(d, "rf_flow_keys") == 0


def test_queued_run_events(launch):
    d = launch()
    must_put(d, "fc", FC)
    a = _start(d, "acme", LIMIT + 1)
    wait_status(d, a[-1], "queued")
    _approve(d, a[0])
    wait_status(d, a[-1], "waiting")
    _approve(d, a[1])
    _approve(d, a[-1])
    wait_status(d, a[-1], "succeeded")
    res = sse_events(d, f"/v1/runs/{a[-1]}/events", timeout=5.0)
    types = [e["type"] for e in check_event_frames(res, a[-1])]
    assert types[:3] == ["run.created", "run.queued", "run.dequeued"], types
    assert types[-1] == "run.succeeded", types
    queued = [e for e in check_event_frames(res) if e["type"] == "run.queued"][0]
    assert queued["data"] == {"key": "acme"}, queued


def test_kill9_keeps_queue_order_and_limit(launch):
    d = launch()
    must_put(d, "fc", FC)
    a = _start(d, "acme", 6)
    b = _start(d, "bolt", 3)
    wait_until(lambda: _statuses(d, a) == ["waiting"] * 2 + ["queued"] * 4, 10.0, what="acme gated")
    wait_until(lambda: _statuses(d, b) == ["waiting"] * 2 + ["queued"], 10.0, what="bolt gated")
    kill9(d)
    d = relaunch(launch, d)
    # Still queued after the restart: the limit counts the live runs found at recovery.
    assert _statuses(d, a) == ["waiting"] * 2 + ["queued"] * 4
    assert _statuses(d, b) == ["waiting"] * 2 + ["queued"]
    view = _keys(d)
    assert view["queued"] == 5 and view["live"] == 4, view
    # Drain acme one slot at a time: the queue leaves in creation order, at most LIMIT live.
    started_order = []
    live = list(a[:2])
    queued = list(a[2:])
    while live:
        done = live.pop(0)
        _approve(d, done)
        wait_status(d, done, "succeeded")
        if queued:
            nxt = queued.pop(0)
            wait_status(d, nxt, "waiting")
            started_order.append(nxt)
            live.append(nxt)
            statuses = _statuses(d, a)
            assert statuses.count("waiting") <= LIMIT, statuses
            assert all(s == "queued" for s in _statuses(d, queued)), statuses
    assert started_order == a[2:]
    for i in b[:2]:
        _approve(d, i)
    wait_status(d, b[2], "waiting")
    _approve(d, b[2])
    for i in a + b:
        wait_status(d, i, "succeeded")


def test_kill9_then_cancel_queued(launch):
    d = launch()
    must_put(d, "fc", FC)
    a = _start(d, "acme", 4)
    wait_until(lambda: _statuses(d, a)[2:] == ["queued", "queued"], 10.0, what="queued")
    st, doc = cancel(d, a[2])
    assert st == 200 and doc["status"] == "cancelled"
    kill9(d)
    d = relaunch(launch, d)
    assert _statuses(d, a) == ["waiting", "waiting", "cancelled", "queued"]
    _approve(d, a[0])
    wait_status(d, a[3], "waiting")


def test_bad_concurrency_definitions(launch):
    d = launch()
    cases = [
        ({"concurrency": 5}, "/concurrency"),
        ({"concurrency": {"limit": 5}}, "/concurrency/key"),
        ({"concurrency": {"key": "{{input.c}}"}}, "/concurrency/limit"),
        ({"concurrency": {"key": "", "limit": 1}}, "/concurrency/key"),
        ({"concurrency": {"key": "{{inptu.c}}", "limit": 1}}, "/concurrency/key"),
        ({"concurrency": {"key": "{{input.c", "limit": 1}}, "/concurrency/key"),
        ({"concurrency": {"key": "{{steps.ok.output}}", "limit": 1}}, "/concurrency/key"),
        ({"concurrency": {"key": "{{input.c}}", "limit": 0}}, "/concurrency/limit"),
        ({"concurrency": {"key": "{{input.c}}", "limit": -1}}, "/concurrency/limit"),
        ({"concurrency": {"key": "{{input.c}}", "limit": "5"}}, "/concurrency/limit"),
        ({"concurrency": {"key": "{{input.c}}", "limit": 1, "burst": 3}}, "/concurrency/burst"),
        ({"concurency": {"key": "{{input.c}}", "limit": 1}}, "/concurency"),
    ]
    for extra, pointer in cases:
        body = {"steps": [{"id": "ok", "type": "approval"}], **extra}
        r = put_workflow(d, "bad", body)
        errors = validation_errors(r)
        assert pointer in [e["field"] for e in errors], (extra, errors)
    # None of them was registered.
    st, _ = get_json(d, "/v1/workflows/bad")
    assert st == 404


def test_concurrency_view_errors(launch):
    d = launch()
    assert_error(get_json(d, "/v1/workflows/nope/concurrency"), 404, "workflow_not_found")
    must_put(d, "plain", {"steps": [{"id": "a", "type": "noop"}]})
    st, doc = get_json(d, "/v1/workflows/plain/concurrency")
    assert st == 200 and doc["limit"] is None and doc["keys"] == [], doc
    must_put(d, "fc", FC)
    assert_error(get_json(d, "/v1/workflows/fc/concurrency?limit=0"), 400, "invalid_argument")
    assert_error(get_json(d, "/v1/workflows/fc/concurrency?x=1"), 400, "invalid_argument")
    must_start(d, "fc", input={"customer": "k"})


def test_a_new_version_raising_the_limit_moves_the_queue_in_order(launch):
    d = launch()
    one = {**FC, "concurrency": {"key": "{{input.customer}}", "limit": 1}}
    must_put(d, "fc", one)
    a = _start(d, "acme", 3)
    wait_until(lambda: _statuses(d, a) == ["waiting", "queued", "queued"], 10.0, what="gated at 1")
    kill9(d)
    d = relaunch(launch, d)
    assert _statuses(d, a) == ["waiting", "queued", "queued"]
    must_put(d, "fc", {**FC, "concurrency": {"key": "{{input.customer}}", "limit": 3}})
    b = _start(d, "acme", 2)
    # The new start's limit (3) lets the two oldest queued runs start; the new ones queue.
    wait_until(lambda: _statuses(d, a + b) == ["waiting"] * 3 + ["queued"] * 2, 10.0,
               what="limit 3 applied in order")
    assert _keys(d)["keys"][0]["limit"] == 3


RL = {"rate_limit": {"key": "{{input.customer}}", "per_second": 2, "burst": 1},
      "steps": [{"id": "a", "type": "noop"}]}


def _started_ms(run: dict) -> int:
    return run["steps"][0]["attempts"][0]["started_ms"]


def test_rate_limit_queues_and_releases_at_the_rate(launch):
    d = launch()
    must_put(d, "rl", RL)
    ids = []
    for i in range(5):
        st, doc = call(d, "POST", "/v1/workflows/rl/runs", {"input": {"customer": "acme", "i": i}})
        assert st == 201, (st, doc)
        ids.append(doc["id"])
    st, other = call(d, "POST", "/v1/workflows/rl/runs", {"input": {"customer": "bolt"}})
    assert st == 201
    # The burst (1) starts at once; the rest wait queued (not refused).
    assert _statuses(d, ids[1:]).count("queued") >= 3, _statuses(d, ids)
    wait_status(d, other["id"], "succeeded")  # another key has its own bucket
    runs = [wait_status(d, i, "succeeded", timeout=15.0) for i in ids]
    starts = [_started_ms(r) for r in runs]
    assert starts == sorted(starts), starts  # FIFO
    # 2 per second: one token every 500 ms (ms clock, so allow a millisecond of rounding).
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert all(g >= 499 for g in gaps), gaps


def test_rate_limited_queue_survives_kill9(launch):
    d = launch()
    must_put(d, "rl", {**RL, "rate_limit": {"key": "{{input.customer}}", "per_second": 0.5}})
    ids = []
    for i in range(3):
        st, doc = call(d, "POST", "/v1/workflows/rl/runs", {"input": {"customer": "acme", "i": i}})
        assert st == 201, (st, doc)
        ids.append(doc["id"])
    assert _statuses(d, ids[1:]) == ["queued", "queued"]
    kill9(d)
    d = relaunch(launch, d)
    # After the restart the bucket starts full (it is not durable): one more starts, in order.
    wait_status(d, ids[1], "succeeded")
    assert _statuses(d, ids[2:]) == ["queued"]
    wait_status(d, ids[2], "succeeded", timeout=15.0)


def test_bad_rate_limit_definitions(launch):
    d = launch()
    cases = [
        ({"rate_limit": 1}, "/rate_limit"),
        ({"rate_limit": {"per_second": 1}}, "/rate_limit/key"),
        ({"rate_limit": {"key": "{{input.c}}"}}, "/rate_limit/per_second"),
        ({"rate_limit": {"key": "{{input.c}}", "per_second": 0}}, "/rate_limit/per_second"),
        ({"rate_limit": {"key": "{{input.c}}", "per_second": -1}}, "/rate_limit/per_second"),
        ({"rate_limit": {"key": "{{input.c}}", "per_second": 1, "burst": 0}}, "/rate_limit/burst"),
        ({"rate_limit": {"key": "{{input.c}}", "per_second": 1, "brst": 2}}, "/rate_limit/brst"),
        ({"rate_limit": {"key": "{{steps.a.output}}", "per_second": 1}}, "/rate_limit/key"),
        ({"rate_limit": {"key": "{{input.c}}", "per_second": 1},
          "concurrency": {"key": "{{input.d}}", "limit": 1}}, "/rate_limit/key"),
    ]
    for extra, pointer in cases:
        body = {"steps": [{"id": "a", "type": "noop"}], **extra}
        errors = validation_errors(put_workflow(d, "bad", body))
        assert pointer in [e["field"] for e in errors], (extra, errors)


DB = {"debounce": {"key": "{{input.customer}}", "ms": 400}, "steps": [{"id": "a", "type": "noop"}]}


def _start_in(d, name: str, customer: str) -> str:
    st, doc = call(d, "POST", f"/v1/workflows/{name}/runs", {"input": {"customer": customer}})
    assert st == 201, (st, doc)
    return doc["id"]


def test_debounce_runs_only_the_last_start(launch):
    d = launch()
    must_put(d, "db", DB)
    ids = [_start_in(d, "db", "acme") for _ in range(3)]
    other = _start_in(d, "db", "bolt")
    last = wait_status(d, ids[-1], "succeeded", timeout=10.0)
    assert last["steps"][0]["status"] == "succeeded"
    for i in ids[:-1]:
        st, run = get_run(d, i)
        assert run["status"] == "cancelled", run
        assert run["error"]["message"].startswith("debounced: a later start"), run
        assert all(s["attempts"] == [] for s in run["steps"]), run  # never started
    wait_status(d, other, "succeeded")  # another key is debounced on its own


def test_debounced_start_survives_kill9(launch):
    d = launch()
    must_put(d, "db", {**DB, "debounce": {"key": "{{input.customer}}", "ms": 1500}})
    first = _start_in(d, "db", "acme")
    second = _start_in(d, "db", "acme")
    assert _statuses(d, [first, second]) == ["cancelled", "queued"]
    kill9(d)
    d = relaunch(launch, d)
    assert _statuses(d, [first]) == ["cancelled"]
    wait_status(d, second, "succeeded", timeout=10.0)


def test_bad_debounce_definitions(launch):
    d = launch()
    cases = [
        ({"debounce": "1s"}, "/debounce"),
        ({"debounce": {"ms": 100}}, "/debounce/key"),
        ({"debounce": {"key": "{{input.c}}"}}, "/debounce/ms"),
        ({"debounce": {"key": "{{input.c}}", "ms": 0}}, "/debounce/ms"),
        ({"debounce": {"key": "{{input.c}}", "ms": 100, "max": 1}}, "/debounce/max"),
        ({"debounce": {"key": "{{input.c}}", "ms": 100},
          "concurrency": {"key": "{{input.c}}", "limit": 1}}, "/debounce"),
    ]
    for extra, pointer in cases:
        body = {"steps": [{"id": "a", "type": "noop"}], **extra}
        errors = validation_errors(put_workflow(d, "bad", body))
        assert pointer in [e["field"] for e in errors], (extra, errors)
