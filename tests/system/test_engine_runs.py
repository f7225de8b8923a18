"""Runs over /v1: execution semantics, retries, approvals, cancel, restarts, idempotency,
listing. Spec: src/api/README.md (Runs), src/engine/README.md; step semantics as
src/engine/machine.h documents them for users (noop outputs its input, a step's input
is the run input / its dependency's output / an object of dependency outputs).
"""

from __future__ import annotations

import threading
import time

from engine_client import (ERR_CONFLICT, ERR_RUN_NOT_FOUND, ERR_STEP_NOT_FOUND, UNKNOWN_RUN_ID,
                           assert_error, cancel, chain, check_run_shape, get_run, kill9,
                           list_all_runs, list_runs, must_put, now_ms, relaunch, retry_run,
                           signal_run, start, step, term, wait_status, wait_step_status,
                           wait_terminal)
from rfclient import free_port

FAST_RETRY = {"initial_ms": 20, "max_ms": 100, "multiplier": 2, "jitter": 0}


def http_step(sid, url, *, method="POST", depends_on=None, body=None, headers=None, retry=None,
              timeout_ms=None):
    s = {"id": sid, "type": "http", "request": {"method": method, "url": url}}
    if depends_on:
        s["depends_on"] = depends_on
    if body is not None:
        s["request"]["body"] = body
    if headers is not None:
        s["request"]["headers"] = headers
    if retry is not None:
        s["retry"] = retry
    if timeout_ms is not None:
        s["timeout_ms"] = timeout_ms
    return s


def approval_wf(timeout_ms=None) -> dict:
    gate = {"id": "approve", "type": "approval", "depends_on": ["prep"]}
    if timeout_ms is not None:
        gate["timeout_ms"] = timeout_ms
    return {"steps": [{"id": "prep", "type": "noop"}, gate,
                      {"id": "after", "type": "noop", "depends_on": ["approve"]}]}


def dead_letter(d, **params) -> list[dict]:
    return list_all_runs(d, path="/v1/dead-letter", page=1000, **params)


# --------------------------------------------------------------------------
# Basics
# --------------------------------------------------------------------------


def test_happy_path_with_wait(launch):
    d = launch()
    must_put(d, "happy", chain("a", "b", "c"))
    inp = {"x": 1, "s": "é\u2603", "list": [1, 2.5, None, True], "nested": {"k": {}}}
    t0 = now_ms()
    st, run = start(d, "happy", input=inp, wait="10s")
    assert st == 201, run  # created by this call and terminal within the wait
    check_run_shape(run)
    assert run["status"] == "succeeded", run
    assert (run["workflow"], run["version"], run["priority"]) == ("happy", 1, "default"), run
    assert "idempotency_key" not in run, run
    assert run["input"] == inp, run
    assert "error" not in run, run
    # default output: the terminal steps' outputs by id; noop outputs its input
    assert run["output"] == {"c": inp}, run
    assert [s["id"] for s in run["steps"]] == ["a", "b", "c"], run
    for s in run["steps"]:
        assert s["type"] == "noop" and s["status"] == "succeeded", s
        assert len(s["attempts"]) == 1 and "error" not in s["attempts"][0], s
        assert s["output"] == inp, s
    a, b, c = run["steps"]
    assert a["attempts"][0]["finished_ms"] <= b["attempts"][0]["started_ms"], run
    assert b["attempts"][0]["finished_ms"] <= c["attempts"][0]["started_ms"], run
    assert c["attempts"][0]["finished_ms"] <= run["finished_ms"], run
    assert t0 - 1000 <= run["created_ms"] <= now_ms() + 1000, run
    # once terminal, the run no longer changes
    st, again = get_run(d, run["id"])
    assert st == 200 and again == run, (again, run)


def test_start_without_body_and_priorities(launch):
    d = launch()
    must_put(d, "prio", chain("only"))
    st, run = start(d, "prio", wait="10s")
    assert st == 201 and run["input"] is None and run["output"] == {"only": None}, run
    for p in ("critical", "default", "low"):
        st, run = start(d, "prio", input=p, priority=p, wait="10s")
        assert st == 201 and run["priority"] == p and run["status"] == "succeeded", run
        assert get_run(d, run["id"]).json["priority"] == p


def test_created_run_answer_then_get(launch):
    d = launch()
    must_put(d, "nowait", approval_wf())
    st, run = start(d, "nowait", input={"i": 1})
    assert st == 201, run
    check_run_shape(run)
    assert run["status"] in ("pending", "running", "waiting"), run
    st, got = get_run(d, run["id"])
    assert st == 200 and got["id"] == run["id"] and got["input"] == {"i": 1}, got


def test_wait_ends_with_202(launch):
    d = launch()
    must_put(d, "held", approval_wf())
    t0 = time.monotonic()
    st, run = start(d, "held", wait="300ms")
    dt = time.monotonic() - t0
    assert st == 202, run
    assert run["status"] == "waiting", run
    assert 0.29 <= dt < 3.0, dt
    # the same key later, terminal by then: 200 (not created by this call)
    st, r1 = start(d, "held", key="w1", wait="250ms")
    assert st == 202 and r1["status"] == "waiting", r1
    assert signal_run(d, r1["id"], "approve", 1)[0] == 200
    wait_terminal(d, r1["id"])
    st, r2 = start(d, "held", key="w1", wait="5s")
    assert st == 200 and r2["id"] == r1["id"] and r2["status"] == "succeeded", r2


def test_fan_out_fan_in(launch):
    d = launch()
    defn = {"steps": [
        {"id": "start", "type": "transform", "output": {"n": "{{input.n}}"}},
        {"id": "left", "type": "transform", "depends_on": ["start"],
         "output": {"side": "left", "n": "{{steps.start.output.n}}"}},
        {"id": "right", "type": "transform", "depends_on": ["start"],
         "output": {"side": "right", "n": "{{steps.start.output.n}}"}},
        {"id": "join", "type": "noop", "depends_on": ["left", "right"]},
    ]}
    must_put(d, "fan", defn)
    st, run = start(d, "fan", input={"n": 5}, wait="10s")
    assert st == 201 and run["status"] == "succeeded", run
    both = {"left": {"side": "left", "n": 5}, "right": {"side": "right", "n": 5}}
    # a step with several dependencies gets an object of their outputs by id
    assert step(run, "join")["output"] == both, run
    assert run["output"] == {"join": both}, run
    s0, l, r, j = (step(run, x) for x in ("start", "left", "right", "join"))
    for x in (l, r):
        assert x["attempts"][0]["started_ms"] >= s0["attempts"][0]["finished_ms"], run
    assert j["attempts"][0]["started_ms"] >= max(l["attempts"][0]["finished_ms"],
                                                 r["attempts"][0]["finished_ms"]), run


def test_when_skips_a_step(launch):
    d = launch()
    defn = {"steps": [
        {"id": "a", "type": "noop"},
        {"id": "b", "type": "noop", "depends_on": ["a"], "when": "input.go == true"},
        {"id": "c", "type": "transform", "depends_on": ["b"],
         "output": {"b": "{{steps.b.status}}"}},
        {"id": "d", "type": "noop", "depends_on": ["a"],
         "when": "{{steps.a.status}} == 'succeeded' && input.n > 3"},
    ]}
    must_put(d, "when", defn)
    st, run = start(d, "when", input={"go": False, "n": 2}, wait="10s")
    assert st == 201 and run["status"] == "succeeded", run
    b = step(run, "b")
    assert b["status"] == "skipped" and b["attempts"] == [] and "output" not in b, run
    # a skipped dependency counts as done: c still runs
    assert step(run, "c")["status"] == "succeeded", run
    assert step(run, "c")["output"] == {"b": "skipped"}, run
    assert step(run, "d")["status"] == "skipped", run

    st, run = start(d, "when", input={"go": True, "n": 4}, wait="10s")
    assert st == 201 and run["status"] == "succeeded", run
    assert step(run, "b")["status"] == "succeeded", run
    assert step(run, "c")["output"] == {"b": "succeeded"}, run
    assert step(run, "d")["status"] == "succeeded", run


def test_transform_templates(launch):
    d = launch()
    defn = {"output": {"result": "{{steps.t.output.greeting}}", "count": "{{steps.t.output.n}}"},
            "steps": [{"id": "t", "type": "transform", "output": {
                "greeting": "hello {{input.name}}", "n": "{{input.n}}", "first": "{{input.items[0].sku}}",
                "id": "{{run.id}}", "wf": "{{ run.workflow }}", "missing": "{{input.nope}}",
                "txt": "a{{input.nope}}b", "obj": "{{input.items}}", "mixed": "n={{input.n}}",
                "const": [1, "two", None]}}]}
    must_put(d, "tmpl", defn)
    inp = {"name": "Ada", "n": 42, "items": [{"sku": "x-1"}, {"sku": "x-2"}]}
    st, run = start(d, "tmpl", input=inp, wait="10s")
    assert st == 201 and run["status"] == "succeeded", run
    assert step(run, "t")["output"] == {
        "greeting": "hello Ada", "n": 42, "first": "x-1", "id": run["id"], "wf": "tmpl",
        "missing": None, "txt": "ab", "obj": inp["items"], "mixed": "n=42",
        "const": [1, "two", None]}, run
    assert run["output"] == {"result": "hello Ada", "count": 42}, run


# --------------------------------------------------------------------------
# http steps and retries
# --------------------------------------------------------------------------


def test_http_retried_after_503_then_succeeds(launch, flaky):
    d = launch()
    flaky.script("/pay", [503, 503, 200])
    defn = {"steps": [{"id": "prep", "type": "noop"},
                      http_step("pay", flaky.url("/pay"), depends_on=["prep"],
                                body={"order": "{{input.order}}", "amount": "{{input.amount}}"},
                                headers={"X-Order": "{{input.order}}"},
                                retry={"max_attempts": 5, "initial_ms": 100, "max_ms": 1000,
                                       "multiplier": 2, "jitter": 0})]}
    must_put(d, "pay", defn)
    st, run = start(d, "pay", input={"order": "o-1", "amount": 12}, wait="20s")
    assert st == 201 and run["status"] == "succeeded", run
    key = f"{run['id']}/pay"
    calls = flaky.requests("/pay")
    assert len(calls) == 3, calls
    for c in calls:
        assert c.method == "POST", c
        assert c.key == key, f"Idempotency-Key {c.key!r}, expected {key!r}"
        assert c.json == {"order": "o-1", "amount": 12}, c
        assert c.header("X-Order") == "o-1", c.headers
    assert flaky.calls_by_key() == {key: 3}
    pay = step(run, "pay")
    att = pay["attempts"]
    assert len(att) == 3, pay
    assert att[0].get("error") and att[1].get("error") and "error" not in att[2], att
    assert "503" in att[0]["error"], att
    # backoff without jitter: 100 ms after the first failure, 200 ms after the second
    assert att[1]["started_ms"] - att[0]["finished_ms"] >= 100, att
    assert att[2]["started_ms"] - att[1]["finished_ms"] >= 200, att
    # Reading: an http step's output holds the parsed JSON response body under "body" (the
    # definition format's own example reads steps.reserve.output.body.id).
    assert pay["output"]["body"] == {"path": "/pay", "method": "POST",
                                     "body": {"order": "o-1", "amount": 12}, "call": 3,
                                     "key": key}, pay
    assert "error" not in pay, pay


def test_retries_exhausted_dead_letter_then_retry(launch, flaky):
    d = launch()
    flaky.script("/pay", [503])
    defn = {"steps": [{"id": "prep", "type": "noop"},
                      http_step("pay", flaky.url("/pay"), depends_on=["prep"],
                                retry=dict(FAST_RETRY, max_attempts=3)),
                      {"id": "after", "type": "noop", "depends_on": ["pay"]}]}
    must_put(d, "dl", defn)
    must_put(d, "dl-other", chain("x"))
    st, run = start(d, "dl", input={"o": 1}, wait="20s")
    assert st == 201 and run["status"] == "failed", run
    check_run_shape(run)
    assert run["error"]["step"] == "pay", run
    assert "pay" in run["error"]["message"], run
    assert "output" not in run, run
    pay = step(run, "pay")
    assert pay["status"] == "failed" and len(pay["attempts"]) == 3, pay
    assert all(a.get("error") for a in pay["attempts"]), pay
    assert "503" in pay["error"], pay
    assert step(run, "after")["status"] == "cancelled", run  # stopped by the run's end
    assert step(run, "prep")["status"] == "succeeded", run
    assert flaky.calls("/pay") == 3

    dl = dead_letter(d)
    mine = [r for r in dl if r["id"] == run["id"]]
    assert len(mine) == 1, dl
    e = mine[0]
    assert (e["workflow"], e["version"], e["status"], e["step"]) == ("dl", 1, "failed", "pay"), e
    assert e["finished_ms"] == run["finished_ms"] and e["created_ms"] == run["created_ms"], e
    assert isinstance(e["error"], str) and "503" in e["error"], e
    assert [r["id"] for r in dead_letter(d, workflow="dl")] == [run["id"]]
    assert dead_letter(d, workflow="dl-other") == []

    flaky.script("/pay", [200])
    st, doc = retry_run(d, run["id"])
    assert st == 200 and doc["id"] == run["id"], doc
    assert doc["status"] in ("pending", "running", "succeeded"), doc
    done = wait_terminal(d, run["id"], 20)
    assert done["status"] == "succeeded", done
    assert "error" not in done, done
    assert done["output"] == {"after": step(done, "pay")["output"]}, done
    pay = step(done, "pay")
    assert len(pay["attempts"]) == 4 and "error" not in pay["attempts"][3], pay  # history kept
    assert len(step(done, "prep")["attempts"]) == 1, done  # succeeded steps are not rerun
    assert step(done, "after")["status"] == "succeeded", done
    assert flaky.calls_by_key() == {f"{run['id']}/pay": 4}
    assert done["finished_ms"] >= run["finished_ms"], (done, run)
    assert all(r["id"] != run["id"] for r in dead_letter(d)), "succeeded run still dead-lettered"
    assert_error(retry_run(d, run["id"]), 409, ERR_CONFLICT)


def test_4xx_fails_without_retry(launch, flaky):
    d = launch()
    flaky.script("/nf", [404, 200])
    must_put(d, "nf", {"steps": [http_step("call", flaky.url("/nf"),
                                           retry=dict(FAST_RETRY, max_attempts=5))]})
    st, run = start(d, "nf", wait="10s")
    assert st == 201 and run["status"] == "failed", run
    assert len(step(run, "call")["attempts"]) == 1, run
    assert "404" in step(run, "call")["error"], run
    assert flaky.calls("/nf") == 1


def test_4xx_retried_when_in_on_status(launch, flaky):
    d = launch()
    flaky.script("/busy", [429, 429, 200])
    flaky.script("/conf", [409, 200])
    must_put(d, "busy", {"steps": [http_step("call", flaky.url("/busy"),
                                             retry=dict(FAST_RETRY, max_attempts=5,
                                                        on_status=[429]))]})
    # the workflow default's on_status applies to its http steps
    must_put(d, "conf", {"retry": dict(FAST_RETRY, max_attempts=5, on_status=[409]),
                         "steps": [http_step("call", flaky.url("/conf"))]})
    st, run = start(d, "busy", wait="10s")
    assert st == 201 and run["status"] == "succeeded", run
    assert len(step(run, "call")["attempts"]) == 3 and flaky.calls("/busy") == 3, run
    st, run = start(d, "conf", wait="10s")
    assert st == 201 and run["status"] == "succeeded", run
    assert len(step(run, "call")["attempts"]) == 2 and flaky.calls("/conf") == 2, run


def test_transport_errors_are_retried(launch):
    d = launch()
    dead = f"http://127.0.0.1:{free_port()}/x"  # nothing listens there
    must_put(d, "down", {"steps": [http_step("call", dead, retry=dict(FAST_RETRY, max_attempts=3))]})
    st, run = start(d, "down", wait="20s")
    assert st == 201 and run["status"] == "failed", run
    att = step(run, "call")["attempts"]
    assert len(att) == 3 and all(a.get("error") for a in att), att


def test_http_attempt_timeout(launch, flaky):
    # Reading: an attempt that hits its timeout_ms is a transport-level failure, so it is
    # retried like one (not a final failure).
    d = launch()
    flaky.delay("/slow", 10.0)
    must_put(d, "slowt", {"steps": [http_step("call", flaky.url("/slow"), timeout_ms=300,
                                              retry=dict(FAST_RETRY, max_attempts=2))]})
    t0 = time.monotonic()
    st, run = start(d, "slowt", wait="20s")
    assert st == 201 and run["status"] == "failed", run
    assert time.monotonic() - t0 < 5.0
    att = step(run, "call")["attempts"]
    assert len(att) == 2, att
    for a in att:
        assert a.get("error") and 300 <= a["finished_ms"] - a["started_ms"] < 3000, att
    assert flaky.wait_calls("/slow", 2, 2.0)


# --------------------------------------------------------------------------
# Approvals
# --------------------------------------------------------------------------


def test_approval_by_signal(launch):
    d = launch()
    must_put(d, "appr", approval_wf())
    st, run = start(d, "appr", input={"amount": 5})
    assert st == 201, run
    run = wait_status(d, run["id"], "waiting")
    assert step(run, "approve")["status"] == "waiting", run
    assert step(run, "after")["status"] == "pending", run
    rid = run["id"]
    assert_error(signal_run(d, rid, "prep", {}), 404, ERR_STEP_NOT_FOUND)  # not an approval
    assert_error(signal_run(d, rid, "nope", {}), 404, ERR_STEP_NOT_FOUND)
    payload = {"ok": True, "by": "ann", "n": [1, 2]}
    st, doc = signal_run(d, rid, "approve", payload)
    assert st == 200 and doc["id"] == rid, doc
    done = wait_terminal(d, rid)
    assert done["status"] == "succeeded", done
    assert step(done, "approve")["output"] == payload, done
    assert len(step(done, "approve")["attempts"]) == 1, done
    assert step(done, "after")["output"] == payload, done
    assert done["output"] == {"after": payload}, done
    assert_error(signal_run(d, rid, "approve", payload), 409, ERR_CONFLICT)

    # an empty body is a null payload
    run2 = start(d, "appr").json
    wait_status(d, run2["id"], "waiting")
    assert signal_run(d, run2["id"], "approve")[0] == 200
    done2 = wait_terminal(d, run2["id"])
    assert done2["status"] == "succeeded" and step(done2, "approve")["output"] is None, done2


def test_signal_before_the_step_waits_is_409(launch):
    d = launch()
    must_put(d, "early", {"steps": [{"id": "d", "type": "delay", "ms": 5000},
                                    {"id": "approve", "type": "approval", "depends_on": ["d"]}]})
    run = start(d, "early").json
    wait_step_status(d, run["id"], "d", "waiting")
    assert_error(signal_run(d, run["id"], "approve", {}), 409, ERR_CONFLICT)
    assert step(get_run(d, run["id"]).json, "approve")["status"] == "pending"
    assert cancel(d, run["id"])[0] == 200


def test_approval_timeout_fails_the_run(launch):
    d = launch()
    must_put(d, "apto", approval_wf(timeout_ms=300))
    run = start(d, "apto").json
    done = wait_terminal(d, run["id"], 10)
    assert done["status"] == "failed", done
    assert done["error"]["step"] == "approve", done
    assert "timed out" in done["error"]["message"], done
    assert step(done, "approve")["status"] == "failed", done
    assert step(done, "after")["status"] == "cancelled", done
    assert done["finished_ms"] - step(done, "approve")["attempts"][0]["started_ms"] >= 300, done
    assert_error(signal_run(d, run["id"], "approve", {}), 409, ERR_CONFLICT)
    assert any(r["id"] == run["id"] for r in dead_letter(d))


# --------------------------------------------------------------------------
# Cancel, timeouts
# --------------------------------------------------------------------------


def test_cancel_during_slow_http_call(launch, flaky):
    d = launch()
    flaky.delay("/slow", 30.0)
    must_put(d, "slow", {"steps": [http_step("call", flaky.url("/slow"), timeout_ms=60000,
                                             retry={"max_attempts": 3}),
                                   {"id": "after", "type": "noop", "depends_on": ["call"]}]})
    waited = {}

    def start_and_wait():
        t = time.monotonic()
        waited["reply"] = start(d, "slow", wait="25s")
        waited["dt"] = time.monotonic() - t

    th = threading.Thread(target=start_and_wait, daemon=True)
    th.start()
    assert flaky.wait_calls("/slow", 1, 10.0), "the http step never called the server"
    runs = list_runs(d, workflow="slow").json["runs"]
    assert len(runs) == 1, runs
    rid = runs[0]["id"]
    assert flaky.requests("/slow")[0].key == f"{rid}/call"
    t0 = time.monotonic()
    st, doc = cancel(d, rid)
    assert st == 200 and doc["status"] == "cancelled", doc
    assert time.monotonic() - t0 < 2.0
    # the held ?wait answer is released by the cancel, not by the slow call
    th.join(5.0)
    assert not th.is_alive(), "the ?wait request was not answered after the cancel"
    st, held = waited["reply"]
    assert st == 201 and held["status"] == "cancelled", held
    done = get_run(d, rid).json
    assert done["status"] == "cancelled", done
    assert step(done, "call")["status"] == "cancelled", done
    assert step(done, "after")["status"] == "cancelled", done
    assert done["finished_ms"] is not None, done
    # the in-flight call is aborted (its connection dropped), and not retried
    assert flaky.wait_disconnect("/slow", 5.0), "the outbound call was left running"
    time.sleep(0.5)
    assert flaky.calls("/slow") == 1
    assert get_run(d, rid).json["status"] == "cancelled"
    assert_error(cancel(d, rid), 409, ERR_CONFLICT)
    assert_error(retry_run(d, rid), 409, ERR_CONFLICT)  # only failed runs can be retried


def test_run_timeout(launch):
    d = launch()
    must_put(d, "rto", {"timeout_ms": 500,
                        "steps": [{"id": "sleep", "type": "delay", "ms": 10000},
                                  {"id": "after", "type": "noop", "depends_on": ["sleep"]}]})
    st, run = start(d, "rto", wait="10s")
    assert st == 201 and run["status"] == "failed", run
    assert "timed out" in run["error"]["message"], run
    # Reading: the run timed out, not a step: error.step is absent.
    assert "step" not in run["error"], run
    assert step(run, "sleep")["status"] == "cancelled", run
    assert step(run, "after")["status"] == "cancelled", run
    assert 500 <= run["finished_ms"] - run["created_ms"] < 3000, run


# --------------------------------------------------------------------------
# Restarts and idempotency
# --------------------------------------------------------------------------


def test_delay_step_survives_restart(launch):
    d1 = launch()
    must_put(d1, "sleepy", {"steps": [{"id": "d", "type": "delay", "ms": 3000},
                                      {"id": "after", "type": "noop", "depends_on": ["d"]}]})
    st, run = start(d1, "sleepy", input={"k": 1})
    assert st == 201, run
    rid = run["id"]
    run = wait_step_status(d1, rid, "d", "waiting")
    due = step(run, "d")["due_ms"]
    assert 3000 <= due - run["created_ms"] <= 4000, run
    term(d1)
    time.sleep(2.0)  # down for a while: a timer restarted from scratch would end far later
    d2 = relaunch(launch, d1)
    st, back = get_run(d2, rid)
    assert st == 200, back
    if now_ms() < due - 300:
        assert back["status"] == "waiting", back
    if step(back, "d")["status"] == "waiting":  # a slow restart may come after the timer fired
        assert step(back, "d")["due_ms"] == due, back
    done = wait_terminal(d2, rid, 20)
    assert done["status"] == "succeeded", done
    assert done["output"] == {"after": None}, done  # a delay outputs null
    assert len(step(done, "d")["attempts"]) == 1, done  # the delay was not restarted
    assert step(done, "after")["attempts"][0]["started_ms"] >= due, done
    assert due <= done["finished_ms"] <= due + 1500, (due, done)


def test_idempotent_start(launch):
    d = launch()
    must_put(d, "idem", chain("a"))
    must_put(d, "idem2", chain("a"))
    st, r1 = start(d, "idem", input={"v": 1}, key="k-1")
    assert st == 201 and r1["idempotency_key"] == "k-1", r1
    st, r2 = start(d, "idem", input={"v": 2}, key="k-1", priority="low")
    assert st == 200 and r2["id"] == r1["id"], r2
    assert r2["input"] == {"v": 1} and r2["priority"] == "default", r2  # the original run
    st, other = start(d, "idem2", key="k-1")  # keys are per workflow
    assert st == 201 and other["id"] != r1["id"], other
    long_key = "k" * 256  # the longest allowed
    st, rl = start(d, "idem", key=long_key)
    assert st == 201 and rl["idempotency_key"] == long_key, rl
    assert start(d, "idem", key=long_key).json["id"] == rl["id"]

    # racing starts with one key: one run
    results = []

    def go():
        results.append(start(d, "idem", key="k-race", input={"t": threading.get_ident()}))

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    statuses = sorted(r.status for r in results)
    assert statuses == [200] * 7 + [201], statuses
    assert len({r.json["id"] for r in results}) == 1, results
    ids = {r["id"] for r in list_all_runs(d, workflow="idem")}
    assert ids == {r1["id"], rl["id"], results[0].json["id"]}, ids

    # after a graceful restart
    term(d)
    d2 = relaunch(launch, d)
    st, r3 = start(d2, "idem", input={"v": 3}, key="k-1")
    assert st == 200 and r3["id"] == r1["id"] and r3["input"] == {"v": 1}, r3
    # after a crash: a 201 means the creation was durable
    st, rc = start(d2, "idem", key="k-crash")
    assert st == 201, rc
    kill9(d2)
    d3 = relaunch(launch, d2)
    st, rc2 = start(d3, "idem", key="k-crash")
    assert st == 200 and rc2["id"] == rc["id"], rc2
    assert wait_terminal(d3, rc["id"])["status"] == "succeeded"


# --------------------------------------------------------------------------
# Listing
# --------------------------------------------------------------------------

LIST_KEYS = {"id", "workflow", "version", "status", "created_ms", "finished_ms"}


def _ids(doc) -> list[str]:
    return [r["id"] for r in doc["runs"]]


def test_list_runs_filters_and_pagination(launch):
    d = launch()
    must_put(d, "lista", chain("a"))
    must_put(d, "listb", {"steps": [{"id": "gate", "type": "approval"}]})
    order = []  # creation order, all workflows
    created_a, created_b = [], []
    for i in range(5):
        r = start(d, "lista", input=i, wait="5s").json
        assert r["status"] == "succeeded", r
        created_a.append(r["id"])
        order.append(r["id"])
        time.sleep(0.005)
    for i in range(3):
        r = start(d, "listb", input=i).json
        created_b.append(r["id"])
        order.append(r["id"])
        time.sleep(0.005)
    for rid in created_b:
        wait_status(d, rid, "waiting")

    st, doc = list_runs(d, workflow="lista")
    assert st == 200 and doc["next_cursor"] is None, doc
    assert _ids(doc) == created_a[::-1], doc  # newest first
    for r in doc["runs"]:
        assert LIST_KEYS <= set(r), r
        assert r["workflow"] == "lista" and r["status"] == "succeeded" and r["version"] == 1, r
        assert isinstance(r["finished_ms"], int), r
    st, doc = list_runs(d)
    assert st == 200 and _ids(doc) == order[::-1], doc
    st, doc = list_runs(d, status="waiting")
    assert st == 200 and _ids(doc) == created_b[::-1], doc
    assert all(r["finished_ms"] is None for r in doc["runs"]), doc
    st, doc = list_runs(d, workflow="listb", status="succeeded")
    assert st == 200 and doc["runs"] == [] and doc["next_cursor"] is None, doc

    # pages of 2: 2 + 2 + 1
    pages = []
    cursor = None
    for _ in range(10):
        st, doc = list_runs(d, workflow="lista", limit=2, cursor=cursor)
        assert st == 200, doc
        pages.append(_ids(doc))
        cursor = doc["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str) and cursor, doc
    assert [len(p) for p in pages] == [2, 2, 1], pages
    assert sum(pages, []) == created_a[::-1], pages

    # a run created between two pages does not shift or repeat what follows
    st, p1 = list_runs(d, workflow="lista", limit=2)
    newest = start(d, "lista", wait="5s").json["id"]
    st, p2 = list_runs(d, workflow="lista", limit=2, cursor=p1["next_cursor"])
    assert st == 200 and _ids(p2) == created_a[::-1][2:4], (p1, p2)
    assert newest not in _ids(p2)
    assert _ids(list_runs(d, workflow="lista", limit=1).json) == [newest]


def test_list_runs_default_limit_100(launch):
    d = launch()
    must_put(d, "many", chain("a"))
    made = {start(d, "many", input=i).json["id"] for i in range(101)}
    assert len(made) == 101
    st, doc = list_runs(d, workflow="many")
    assert st == 200 and len(doc["runs"]) == 100 and doc["next_cursor"], (st, len(doc["runs"]))
    st, doc2 = list_runs(d, workflow="many", cursor=doc["next_cursor"])
    assert st == 200 and len(doc2["runs"]) == 1 and doc2["next_cursor"] is None, doc2
    assert set(_ids(doc)) | set(_ids(doc2)) == made
    st, doc3 = list_runs(d, workflow="many", limit=1000)
    assert st == 200 and set(_ids(doc3)) == made and doc3["next_cursor"] is None


def test_get_unknown_run_404(launch):
    d = launch()
    assert_error(get_run(d, UNKNOWN_RUN_ID), 404, ERR_RUN_NOT_FOUND)
