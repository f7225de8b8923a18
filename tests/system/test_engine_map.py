"""Map steps: a `map` step runs a noop, transform or workflow step per item of an array (a
literal or a template), at most `concurrency` items at once, and succeeds with the outputs in
item order; `on_failure` fail_fast ends it at the first failed item (cancelling the children
still running), collect runs every item and reports each one's outcome; the item count is
bounded by --max-map-items (422 for a literal array, a step error for a rendered one); progress
is in GET /v1/runs/{id} (`map`), SSE (`map.item_*`) and /metrics (rf_map_items_total); a kill -9
mid-map resumes without re-running finished items or starting a second child for an item.
Both stores (RINGFLOW_TEST_STORE=postgres for PostgreSQL)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import rfclient
from engine_client import (cancel, check_event_frames, check_run_shape, get_json, get_run, kill9,
                           must_put, must_start, put_workflow, relaunch, signal_run, sse_events,
                           step, validation_errors, wait_status, wait_step_status, wait_until)

HELD = {"steps": [{"id": "ok", "type": "approval", "timeout_ms": 3600000}],
        "output": {"item": "{{input}}", "approved": "{{steps.ok.output}}"}}


def map_wf(items, item_step, concurrency=None, on_failure=None, extra=None) -> dict:
    m = {"id": "m", "type": "map", "items": items, "step": item_step}
    if concurrency is not None:
        m["concurrency"] = concurrency
    if on_failure is not None:
        m["on_failure"] = on_failure
    steps = [m, {"id": "after", "type": "transform", "depends_on": ["m"],
                 "output": {"got": "{{steps.m.output}}"}}]
    return {"steps": steps, **(extra or {})}


def runs_of(d, workflow) -> list[dict]:
    st, doc = get_json(d, f"/v1/runs?workflow={workflow}&limit=1000")
    assert st == 200, doc
    return doc["runs"]


def live_children(d, workflow="held") -> list[dict]:
    return [r for r in runs_of(d, workflow) if r["status"] in ("pending", "running", "waiting")]


def metric_value(d, name, **labels) -> float:
    text = get_json(d, "/metrics").resp.body.decode()
    return rfclient.metric_sum(rfclient.parse_metrics(text), name, **labels)


def items_metric(d, outcome) -> float:
    return metric_value(d, "rf_map_items_total", outcome=outcome)


def progress(d, run_id) -> dict:
    st, doc = get_run(d, run_id)
    assert st == 200, doc
    return step(doc, "m").get("map", {})


def child_for_item(d, item, workflow="held") -> str | None:
    for r in runs_of(d, workflow):
        st, doc = get_run(d, r["id"])
        if st == 200 and doc["input"] == item:
            return doc["id"]
    return None


def test_noop_and_transform_items_keep_their_order(launch):
    d = launch()
    must_put(d, "m", map_wf("{{input.list}}", {"type": "noop"}, concurrency=3))
    items = [{"n": i} for i in range(25)]
    run = must_start(d, "m", input={"list": items}, wait="10s")
    assert run["status"] == "succeeded", run
    check_run_shape(run)
    assert step(run, "m")["output"] == items, run
    assert step(run, "after")["output"] == {"got": items}, run
    assert step(run, "m")["map"] == {"total": 25, "succeeded": 25, "failed": 0, "in_flight": 0,
                                     "pending": 0}, run
    assert items_metric(d, "succeeded") == 25
    text = get_json(d, "/metrics").resp.body.decode()
    assert rfclient.metric_sum(rfclient.parse_metrics(text), "rf_steps_total", type="map",
                               outcome="succeeded") == 1

    must_put(d, "t", map_wf([3, "x", {"k": 1}],
                            {"type": "transform", "output": {"it": "{{input}}", "run": "{{run.id}}"}}))
    run = must_start(d, "t", wait="10s")
    assert run["status"] == "succeeded", run
    rid = run["id"]
    assert step(run, "m")["output"] == [{"it": 3, "run": rid}, {"it": "x", "run": rid},
                                        {"it": {"k": 1}, "run": rid}], run

    # SSE: the step's start names the item count, one event per item, then the step's end.
    ev = sse_events(d, f"/v1/runs/{rid}/events")
    assert ev.status == 200
    docs = check_event_frames(ev.events(), rid)
    mine = [e for e in docs if e.get("step") == "m"]
    assert mine[0]["type"] == "step.started" and mine[0]["data"]["items"] == 3, mine
    done = [e for e in mine if e["type"] == "map.item_succeeded"]
    assert sorted(e["data"]["index"] for e in done) == [0, 1, 2], mine
    assert done[-1]["data"]["progress"]["succeeded"] == 3, done
    assert mine[-1]["type"] == "step.succeeded", mine


class CountingServer:
    """A local HTTP server that holds each call `hold` seconds and records how many calls were
    in progress at once; a body {"fail": true} gets a 500, {"status": N} the first `flaky` calls of
    each Idempotency-Key N, any other an echo of the body."""

    def __init__(self, hold: float, flaky: int = 0):
        self.lock = threading.Lock()
        self.current = 0
        self.max_seen = 0
        self.keys: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"null")
                key = self.headers.get("Idempotency-Key", "")
                with outer.lock:
                    outer.current += 1
                    outer.max_seen = max(outer.max_seen, outer.current)
                    outer.keys.append(key)
                    tries = outer.keys.count(key)
                time.sleep(hold)
                with outer.lock:
                    outer.current -= 1
                status = 200
                if isinstance(body, dict) and body.get("fail") is True:
                    status = 500
                elif isinstance(body, dict) and isinstance(body.get("status"), int) and tries <= flaky:
                    status = body["status"]
                out = json.dumps({"echo": body, "tries": tries}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/call"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def counting():
    srv = CountingServer(hold=0.15)
    yield srv
    srv.close()


def test_http_items_respect_concurrency_and_keep_their_order(launch, counting):
    d = launch()
    must_put(d, "m", map_wf("{{input.list}}", {"type": "http", "request": {
        "method": "POST", "url": counting.url, "body": {"n": "{{input}}"}}}, concurrency=3))
    run = must_start(d, "m", input={"list": list(range(12))}, wait="30s")
    assert run["status"] == "succeeded", run
    out = step(run, "m")["output"]
    assert [o["body"]["echo"]["n"] for o in out] == list(range(12)), out
    assert all(o["status"] == 200 for o in out), out
    assert counting.max_seen == 3, counting.max_seen  # never more, and the limit was reached
    assert sorted(counting.keys) == sorted(f"{run['id']}/m/{i}" for i in range(12)), counting.keys


def test_a_failed_http_item_fails_fast_or_is_collected(launch, counting):
    d = launch()
    items = [{"n": 0}, {"n": 1, "fail": True}, {"n": 2}]
    req = {"method": "POST", "url": counting.url, "body": "{{input}}"}
    must_put(d, "ff", map_wf(items, {"type": "http", "request": req}))
    run = must_start(d, "ff", wait="30s")
    assert run["status"] == "failed", run
    assert step(run, "m")["error"] == "item 1 failed: HTTP 500", run
    assert step(run, "m")["map"]["succeeded"] == 1, run
    must_put(d, "co", map_wf(items, {"type": "http", "request": req}, on_failure="collect"))
    run = must_start(d, "co", wait="30s")
    assert run["status"] == "succeeded", run
    out = step(run, "m")["output"]
    assert [o["ok"] for o in out] == [True, False, True], out
    assert out[1]["error"] == "HTTP 500" and out[2]["output"]["body"]["echo"] == {"n": 2}, out


@pytest.fixture
def flaky():
    srv = CountingServer(hold=0.0, flaky=2)  # the first two calls of each item fail
    yield srv
    srv.close()


def test_http_items_retry_by_their_own_policy(launch, flaky):
    d = launch()
    retry = {"max_attempts": 3, "initial_ms": 20, "max_ms": 50}
    req = {"method": "POST", "url": flaky.url, "body": "{{input}}"}
    items = [{"n": 0, "status": 503}, {"n": 1}, {"n": 2, "status": 503}]
    must_put(d, "r", map_wf(items, {"type": "http", "request": req, "retry": retry}, concurrency=3))
    run = must_start(d, "r", wait="30s")
    assert run["status"] == "succeeded", run
    out = step(run, "m")["output"]
    assert [o["body"]["tries"] for o in out] == [3, 1, 3], out  # 503, 503, then 200
    assert [o["body"]["echo"]["n"] for o in out] == [0, 1, 2], out
    # Each try of an item carries the item's one Idempotency-Key.
    assert sorted(flaky.keys) == sorted([f"{run['id']}/m/0"] * 3 + [f"{run['id']}/m/1"] +
                                        [f"{run['id']}/m/2"] * 3), flaky.keys
    assert metric_value(d, "rf_map_item_retries_total") >= 4
    assert metric_value(d, "rf_map_items_retrying") == 0

    # Two tries are not enough for an item whose first two calls fail: the item fails.
    must_put(d, "short", map_wf([{"n": 5, "status": 502}], {"type": "http", "request": req,
                                                            "retry": dict(retry, max_attempts=2)}))
    run = must_start(d, "short", wait="30s")
    assert run["status"] == "failed", run
    assert step(run, "m")["error"] == "item 0 failed: HTTP 502", run

    # A 4xx is final unless on_status names it; without "retry" an item has one call.
    must_put(d, "four", map_wf([{"n": 6, "status": 429}, {"n": 7, "status": 409}],
                               {"type": "http", "request": req,
                                "retry": dict(retry, on_status=[429])}, on_failure="collect"))
    run = must_start(d, "four", wait="30s")
    out = step(run, "m")["output"]
    assert out[0]["ok"] is True and out[0]["output"]["body"]["tries"] == 3, out
    assert out[1] == {"ok": False, "error": "HTTP 409"}, out
    must_put(d, "once", map_wf([{"n": 8, "status": 503}], {"type": "http", "request": req}))
    run = must_start(d, "once", wait="30s")
    assert step(run, "m")["error"] == "item 0 failed: HTTP 503", run
    assert sum(1 for k in flaky.keys if k == f"{run['id']}/m/0") == 1, flaky.keys


def test_empty_array_succeeds_with_an_empty_output(launch):
    d = launch()
    must_put(d, "m", map_wf("{{input.list}}", {"type": "noop"}))
    run = must_start(d, "m", input={"list": []}, wait="10s")
    assert run["status"] == "succeeded", run
    assert step(run, "m")["output"] == [] and step(run, "after")["output"] == {"got": []}, run
    must_put(d, "lit", map_wf([], {"type": "noop"}))
    assert must_start(d, "lit", wait="10s")["status"] == "succeeded"


@pytest.mark.parametrize("value, kind", [(5, "int"), ("text", "string"), ({"a": 1}, "object"),
                                         (None, "null")])
def test_items_that_are_not_an_array_fail_the_step(launch, value, kind):
    d = launch()
    must_put(d, "m", map_wf("{{input.list}}", {"type": "noop"}))
    run = must_start(d, "m", input={"list": value}, wait="10s")
    assert run["status"] == "failed", run
    err = step(run, "m")["error"]
    assert err.startswith("map_items_not_array"), run
    assert run["error"]["step"] == "m" and step(run, "after")["status"] == "cancelled", run


def test_too_many_items_is_422_for_a_literal_and_a_step_error_when_rendered(launch):
    d = launch("--max-map-items", "3")
    errors = validation_errors(put_workflow(d, "big", map_wf([1, 2, 3, 4], {"type": "noop"})))
    assert any(e["field"] == "/steps/0/items" and "--max-map-items" in e["message"] for e in errors), errors
    assert get_json(d, "/v1/workflows/big").status == 404
    must_put(d, "ok", map_wf([1, 2, 3], {"type": "noop"}))
    assert must_start(d, "ok", wait="10s")["status"] == "succeeded"
    must_put(d, "tpl", map_wf("{{input.list}}", {"type": "noop"}))
    run = must_start(d, "tpl", input={"list": [1, 2, 3, 4]}, wait="10s")
    assert run["status"] == "failed", run
    err = step(run, "m")["error"]
    assert err.startswith("map_too_many_items") and "4" in err and "3" in err, err
    assert must_start(d, "tpl", input={"list": [1, 2, 3]}, wait="10s")["status"] == "succeeded"


def test_workflow_items_run_at_most_concurrency_children_at_once(launch):
    d = launch()
    must_put(d, "held", HELD)
    must_put(d, "m", map_wf("{{input.list}}", {"type": "workflow", "workflow": "held"}, concurrency=2))
    items = [f"i{i}" for i in range(5)]
    run = must_start(d, "m", input={"list": items})
    approved = []
    max_seen = 0
    while len(approved) < len(items):
        wait_until(lambda: len(live_children(d)) == min(2, len(items) - len(approved)), 10.0,
                   what="the next children")
        time.sleep(0.2)  # room for a wrongly started third child to show up
        live = live_children(d)
        max_seen = max(max_seen, len(live))
        assert len(live) <= 2, live
        p = progress(d, run["id"])
        assert p["in_flight"] == len(live) and p["succeeded"] == len(approved), p
        # Approve the newest first: outputs must still come back in item order.
        target = max(live, key=lambda r: r["id"])
        st, doc = signal_run(d, target["id"], "ok", {"by": "test"})
        assert st == 200, doc
        approved.append(target["id"])
    assert max_seen == 2
    doc = wait_status(d, run["id"], "succeeded", timeout=15.0)
    assert step(doc, "m")["output"] == [{"item": i, "approved": {"by": "test"}} for i in items], doc
    children = runs_of(d, "held")
    assert len(children) == 5
    for c in children:
        st, child = get_run(d, c["id"])
        assert child["parent"]["run_id"] == run["id"] and child["parent"]["step"] == "m", child
        assert child["idempotency_key"].startswith(f"map-item:{run['id']}/m/1/"), child


def test_workflow_item_input_template_reads_the_item(launch):
    d = launch()
    must_put(d, "child", {"steps": [{"id": "a", "type": "transform", "output": {"sq": "{{input.v}}"}}],
                          "output": "{{steps.a.output}}"})
    must_put(d, "m", map_wf("{{input.list}}", {"type": "workflow", "workflow": "child",
                                               "input": {"v": "{{input.n}}"}}, concurrency=4))
    run = must_start(d, "m", input={"list": [{"n": i} for i in range(10)]}, wait="15s")
    assert run["status"] == "succeeded", run
    assert step(run, "m")["output"] == [{"sq": i} for i in range(10)], run
    assert len(runs_of(d, "child")) == 10


def test_fail_fast_fails_at_the_first_failed_item_and_cancels_the_rest(launch):
    d = launch()
    must_put(d, "held", HELD)
    must_put(d, "m", map_wf(["a", "b", "c", "d"], {"type": "workflow", "workflow": "held"}, concurrency=3))
    run = must_start(d, "m")
    wait_until(lambda: len(live_children(d)) == 3, 10.0, what="3 children")
    victim = child_for_item(d, "b")
    assert victim
    st, doc = cancel(d, victim)
    assert st == 200, doc
    doc = wait_status(d, run["id"], "failed", timeout=10.0)
    assert step(doc, "m")["error"].startswith("item 1 failed: child run"), doc
    assert step(doc, "m")["map"]["failed"] == 1, doc
    assert step(doc, "after")["status"] == "cancelled", doc
    wait_until(lambda: not live_children(d), 10.0, what="the other children cancelled")
    assert len(runs_of(d, "held")) == 3  # item d never started
    assert items_metric(d, "failed") == 1


def test_collect_runs_every_item_and_reports_each_outcome(launch):
    d = launch()
    must_put(d, "held", HELD)
    must_put(d, "m", map_wf(["a", "b", "c"], {"type": "workflow", "workflow": "held"},
                            concurrency=3, on_failure="collect"))
    run = must_start(d, "m")
    wait_until(lambda: len(live_children(d)) == 3, 10.0, what="3 children")
    st, _ = cancel(d, child_for_item(d, "b"))
    assert st == 200
    wait_until(lambda: progress(d, run["id"]).get("failed") == 1, 10.0, what="item b failed")
    p = progress(d, run["id"])
    assert p["failures"][0]["index"] == 1 and "cancelled" in p["failures"][0]["error"], p
    for item in ("a", "c"):
        st, doc = signal_run(d, child_for_item(d, item), "ok", 1)
        assert st == 200, doc
    doc = wait_status(d, run["id"], "succeeded", timeout=10.0)
    out = step(doc, "m")["output"]
    assert out[0] == {"ok": True, "output": {"item": "a", "approved": 1}}, out
    assert out[1]["ok"] is False and "cancelled" in out[1]["error"], out
    assert out[2] == {"ok": True, "output": {"item": "c", "approved": 1}}, out


def test_cancelling_the_run_cancels_the_item_children(launch):
    d = launch()
    must_put(d, "held", HELD)
    must_put(d, "m", map_wf(["a", "b"], {"type": "workflow", "workflow": "held"}, concurrency=2))
    run = must_start(d, "m")
    wait_until(lambda: len(live_children(d)) == 2, 10.0, what="2 children")
    st, doc = cancel(d, run["id"])
    assert st == 200, doc
    wait_until(lambda: not live_children(d), 10.0, what="children cancelled")


def test_kill9_mid_map_of_children_resumes_without_a_second_child(launch):
    """Items 0 and 1 finish, 2 and 3 wait in their children, 4 has not started; kill -9.
    After the restart the finished items are not run again, the waiting ones find their
    children (no second child per item), and the output keeps the item order."""
    d = launch()
    must_put(d, "held", HELD)
    must_put(d, "m", map_wf("{{input.list}}", {"type": "workflow", "workflow": "held"}, concurrency=2))
    items = ["a", "b", "c", "d", "e"]
    run = must_start(d, "m", input={"list": items}, key="once")
    for item in ("a", "b"):
        wait_until(lambda: child_for_item(d, item) is not None, 10.0, what=f"child of {item}")
        st, doc = signal_run(d, child_for_item(d, item), "ok", item.upper())
        assert st == 200, doc
    wait_until(lambda: progress(d, run["id"]).get("succeeded") == 2 and len(live_children(d)) == 2,
               10.0, what="2 done, 2 waiting")
    kill9(d)
    d2 = relaunch(launch, d)
    p = wait_step_status(d2, run["id"], "m", {"running"}, 10.0)
    assert step(p, "m")["map"]["succeeded"] == 2, p
    wait_until(lambda: len(live_children(d2)) == 2, 10.0, what="the 2 waiting children")
    assert len(runs_of(d2, "held")) == 4
    for item in ("c", "d", "e"):
        wait_until(lambda: child_for_item(d2, item) is not None, 10.0, what=f"child of {item}")
        st, doc = signal_run(d2, child_for_item(d2, item), "ok", item.upper())
        assert st == 200, doc
    doc = wait_status(d2, run["id"], "succeeded", timeout=15.0)
    assert step(doc, "m")["output"] == [{"item": i, "approved": i.upper()} for i in items], doc
    assert len(runs_of(d2, "held")) == 5
    assert must_start(d2, "m", input={"list": items}, key="once")["id"] == run["id"]


def test_kill9_mid_map_of_noop_items_keeps_every_output_in_order(launch):
    d = launch()
    must_put(d, "m", map_wf("{{input.list}}", {"type": "noop"}, concurrency=5))
    n = 2000
    items = list(range(n))
    ids = [must_start(d, "m", input={"list": items}, key=f"k{i}")["id"] for i in range(3)]
    kill9(d)
    d2 = relaunch(launch, d)
    for rid in ids:
        doc = wait_status(d2, rid, "succeeded", timeout=30.0)
        assert step(doc, "m")["output"] == items
        assert step(doc, "m")["map"]["succeeded"] == n, step(doc, "m")["map"]


def test_a_finished_map_reads_the_same_after_a_restart(launch):
    d = launch()
    must_put(d, "held", HELD)
    must_put(d, "m", map_wf(["a", "b"], {"type": "workflow", "workflow": "held"},
                            concurrency=2, on_failure="collect"))
    must_put(d, "n", map_wf([1, 2, 3], {"type": "noop"}))
    done = must_start(d, "n", wait="10s")
    run = must_start(d, "m")
    wait_until(lambda: len(live_children(d)) == 2, 10.0, what="2 children")
    st, _ = cancel(d, child_for_item(d, "a"))
    assert st == 200
    wait_until(lambda: progress(d, run["id"]).get("failed") == 1, 10.0, what="item a failed")
    st, before = get_run(d, run["id"])
    kill9(d)
    d2 = relaunch(launch, d)
    st, again = get_run(d2, done["id"])
    assert st == 200 and again["output"] == done["output"], again
    assert step(again, "m")["map"] == step(done, "m")["map"], again
    st, after = get_run(d2, run["id"])
    assert st == 200, after
    assert step(after, "m")["map"]["failed"] == 1 and step(after, "m")["map"]["total"] == 2, after
    assert step(after, "m")["map"]["failures"] == step(before, "m")["map"]["failures"], after


@pytest.mark.parametrize("bad_step, field", [
    ({"id": "m", "type": "map", "step": {"type": "noop"}}, "/steps/0/items"),
    ({"id": "m", "type": "map", "items": 3, "step": {"type": "noop"}}, "/steps/0/items"),
    ({"id": "m", "type": "map", "items": "no template", "step": {"type": "noop"}}, "/steps/0/items"),
    ({"id": "m", "type": "map", "items": "{{inptu.list}}", "step": {"type": "noop"}}, "/steps/0/items"),
    ({"id": "m", "type": "map", "items": "{{steps.ghost.output}}", "step": {"type": "noop"}}, "/steps/0/items"),
    ({"id": "m", "type": "map", "items": [], "concurrency": 0, "step": {"type": "noop"}}, "/steps/0/concurrency"),
    ({"id": "m", "type": "map", "items": [], "concurrency": 10001, "step": {"type": "noop"}}, "/steps/0/concurrency"),
    ({"id": "m", "type": "map", "items": [], "concurrency": 1.5, "step": {"type": "noop"}}, "/steps/0/concurrency"),
    ({"id": "m", "type": "map", "items": [], "on_failure": "skip", "step": {"type": "noop"}}, "/steps/0/on_failure"),
    ({"id": "m", "type": "map", "items": [], "on_failure": 1, "step": {"type": "noop"}}, "/steps/0/on_failure"),
    ({"id": "m", "type": "map", "items": []}, "/steps/0/step"),
    ({"id": "m", "type": "map", "items": [], "step": []}, "/steps/0/step"),
    ({"id": "m", "type": "map", "items": [], "step": {}}, "/steps/0/step/type"),
    ({"id": "m", "type": "map", "items": [], "step": {"type": "delay"}}, "/steps/0/step/type"),
    ({"id": "m", "type": "map", "items": [], "step": {"type": "http"}}, "/steps/0/step/request"),
    ({"id": "m", "type": "map", "items": [], "step": {"type": "http", "request": {"url": "ftp://x"}}},
     "/steps/0/step/request/url"),
    ({"id": "m", "type": "map", "items": [], "step": {"type": "http", "request": {"url": "http://x"},
                                                      "timeout_ms": 0}}, "/steps/0/step/timeout_ms"),
    ({"id": "m", "type": "map", "items": [], "step": {"type": "http", "request": {"url": "http://x"},
                                                      "retry": []}}, "/steps/0/step/retry"),
    ({"id": "m", "type": "map", "items": [], "step": {"type": "http", "request": {"url": "http://x"},
                                                      "retry": {"max_attempts": 0}}}, "/steps/0/step/retry/max_attempts"),
    ({"id": "m", "type": "map", "items": [], "step": {"type": "http", "request": {"url": "http://x"},
                                                      "retry": {"on_status": [503]}}}, "/steps/0/step/retry/on_status/0"),
    ({"id": "m", "type": "map", "items": [], "step": {"type": "noop", "retry": {}}}, "/steps/0/step/retry"),
    ({"id": "m", "type": "map", "items": [], "step": {"type": "map"}}, "/steps/0/step/type"),
    ({"id": "m", "type": "map", "items": [], "step": {"type": "transform"}}, "/steps/0/step/output"),
    ({"id": "m", "type": "map", "items": [], "step": {"type": "noop", "url": "x"}}, "/steps/0/step/url"),
    ({"id": "m", "type": "map", "items": [], "step": {"type": "workflow"}}, "/steps/0/step/workflow"),
    ({"id": "m", "type": "map", "items": [], "step": {"type": "workflow", "workflow": "a b"}}, "/steps/0/step/workflow"),
    ({"id": "m", "type": "map", "items": [], "step": {"type": "workflow", "workflow": "w", "version": 0}},
     "/steps/0/step/version"),
    ({"id": "m", "type": "map", "items": [], "step": {"type": "workflow", "workflow": "w",
                                                      "input": "{{secrets.T}}"}}, "/steps/0/step/input"),
    ({"id": "m", "type": "map", "items": [], "step": {"type": "noop"}, "retry": {}}, "/steps/0/retry"),
    ({"id": "m", "type": "map", "items": [], "step": {"type": "noop"}, "timeout_ms": 10}, "/steps/0/timeout_ms"),
    ({"id": "m", "type": "map", "items": [], "step": {"type": "noop"}, "concurency": 2}, "/steps/0/concurency"),
])
def test_bad_map_steps_are_422_with_a_pointer(launch, bad_step, field):
    d = launch()
    errors = validation_errors(put_workflow(d, "bad", {"steps": [bad_step]}))
    assert field in [e["field"] for e in errors], errors
    assert get_json(d, "/v1/workflows/bad").status == 404
