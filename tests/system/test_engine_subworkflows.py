"""Sub-workflows: a `workflow` step starts a child run of another workflow of the same
namespace and ends with it (its output, its failure), the parent's cancellation cancels the
child, parent and child link to each other in GET /v1/runs/{id}, nesting is bounded by
--max-workflow-depth, bad steps are refused with 422, and a kill -9 while the child waits
never starts a second child. Both stores (RINGFLOW_TEST_STORE=postgres for PostgreSQL)."""

from __future__ import annotations

import pytest

import rfclient
from engine_client import call as api_call
from engine_client import (assert_error, cancel, check_event_frames, check_run_shape, get_json, get_run, kill9,
                           must_put, must_start, put_workflow, relaunch, signal_run, sse_events,
                           start, step, validation_errors, wait_status, wait_step_status,
                           wait_until)

CHILD = {"steps": [{"id": "double", "type": "transform",
                    "output": {"n": "{{input.n}}", "tag": "child"}}],
         "output": {"result": "{{steps.double.output}}"}}
PARENT = {"steps": [{"id": "prep", "type": "transform", "output": {"n": "{{input.n}}"}},
                    {"id": "call", "type": "workflow", "workflow": "child", "depends_on": ["prep"],
                     "input": {"n": "{{steps.prep.output.n}}"}},
                    {"id": "after", "type": "transform", "depends_on": ["call"],
                     "output": {"got": "{{steps.call.output.result}}"}}]}
# A child that waits for a signal (or for its approval's timeout).
HELD_CHILD = {"steps": [{"id": "ok", "type": "approval", "timeout_ms": 3600000}],
              "output": {"approved": "{{steps.ok.output}}"}}
CALLS_HELD = {"steps": [{"id": "call", "type": "workflow", "workflow": "held"}]}


def runs_of(d, workflow) -> list[dict]:
    st, doc = get_json(d, f"/v1/runs?workflow={workflow}&limit=1000")
    assert st == 200, doc
    return doc["runs"]


def child_of(d, run_id, step_id="call", timeout=10.0) -> str:
    doc = wait_step_status(d, run_id, step_id, {"waiting", "succeeded", "failed"}, timeout)
    cid = step(doc, step_id).get("child_run_id")
    assert cid, doc
    return cid


def subworkflow_metric(d, outcome) -> float:
    text = get_json(d, "/metrics").resp.body.decode()
    return rfclient.metric_sum(rfclient.parse_metrics(text), "rf_subworkflow_runs_total",
                               outcome=outcome)


def test_child_output_is_the_steps_output_and_runs_link_both_ways(launch):
    d = launch()
    must_put(d, "child", CHILD)
    must_put(d, "parent", PARENT)
    run = must_start(d, "parent", input={"n": 21}, wait="10s")
    assert run["status"] == "succeeded", run
    call = step(run, "call")
    assert call["type"] == "workflow" and call["status"] == "succeeded", call
    assert call["output"] == {"result": {"n": 21, "tag": "child"}}, call
    assert step(run, "after")["output"] == {"got": {"n": 21, "tag": "child"}}, run
    cid = call["child_run_id"]

    st, child = get_run(d, cid)
    assert st == 200, child
    check_run_shape(run)
    check_run_shape(child)
    assert child["workflow"] == "child" and child["status"] == "succeeded", child
    assert child["parent"]["run_id"] == run["id"] and child["parent"]["step"] == "call", child
    assert child["parent"]["depth"] == 1, child
    assert child["input"] == {"n": 21}, child
    assert "parent" not in run, run
    assert len(runs_of(d, "child")) == 1
    assert subworkflow_metric(d, "started") == 1
    assert subworkflow_metric(d, "succeeded") == 1

    # The parent's event stream names the child when the step starts waiting for it.
    ev = sse_events(d, f"/v1/runs/{run['id']}/events")
    assert ev.status == 200
    docs = check_event_frames(ev.events(), run["id"])
    waiting = [e for e in docs if e["type"] == "step.waiting" and e.get("step") == "call"]
    assert waiting and waiting[0]["data"]["child_run_id"] == cid, docs
    types = [e["type"] for e in docs if e.get("step") == "call"]
    assert types.index("step.started") < types.index("step.waiting") < types.index("step.succeeded")


def test_input_defaults_to_the_step_input_and_version_is_pinned(launch):
    d = launch()
    must_put(d, "child", {"steps": [{"id": "a", "type": "transform", "output": {"v": 1, "in": "{{input}}"}}]})
    must_put(d, "child", {"steps": [{"id": "a", "type": "transform", "output": {"v": 2}}]})
    must_put(d, "p", {"steps": [{"id": "call", "type": "workflow", "workflow": "child", "version": 1},
                                {"id": "latest", "type": "workflow", "workflow": "child"}]})
    run = must_start(d, "p", input={"k": "x"}, wait="10s")
    assert run["status"] == "succeeded", run
    assert step(run, "call")["output"] == {"a": {"v": 1, "in": {"k": "x"}}}, run
    assert step(run, "latest")["output"] == {"a": {"v": 2}}, run


def test_child_failure_fails_the_parent_naming_the_child(launch):
    d = launch()
    must_put(d, "fails", {"steps": [{"id": "ok", "type": "approval", "timeout_ms": 50}]})
    must_put(d, "p", {"steps": [{"id": "call", "type": "workflow", "workflow": "fails"},
                                {"id": "never", "type": "noop", "depends_on": ["call"]}]})
    run = must_start(d, "p", wait="10s")
    assert run["status"] == "failed", run
    call = step(run, "call")
    cid = call["child_run_id"]
    assert call["status"] == "failed", call
    assert cid in call["error"] and "failed" in call["error"], call
    assert "approval timed out" in call["error"], call
    assert len(call["attempts"]) == 1, call  # a failed child is final for the step
    assert step(run, "never")["status"] == "cancelled", run
    assert run["error"]["step"] == "call", run
    assert wait_status(d, cid, "failed")["status"] == "failed"
    assert subworkflow_metric(d, "failed") == 1


def test_cancelled_child_fails_the_parent(launch):
    d = launch()
    must_put(d, "held", HELD_CHILD)
    must_put(d, "p", CALLS_HELD)
    run = must_start(d, "p")
    cid = child_of(d, run["id"])
    st, _ = cancel(d, cid)
    assert st == 200
    doc = wait_status(d, run["id"], "failed")
    assert cid in step(doc, "call")["error"] and "cancelled" in step(doc, "call")["error"], doc


def test_cancelling_the_parent_cancels_the_child(launch):
    d = launch()
    must_put(d, "held", HELD_CHILD)
    must_put(d, "mid", {"steps": [{"id": "call", "type": "workflow", "workflow": "held"}]})
    must_put(d, "p", {"steps": [{"id": "call", "type": "workflow", "workflow": "mid"}]})
    run = must_start(d, "p")
    mid = child_of(d, run["id"])
    leaf = child_of(d, mid)
    assert wait_status(d, leaf, "waiting")["parent"] == {"run_id": mid, "step": "call", "depth": 2}
    st, doc = cancel(d, run["id"])
    assert st == 200, doc
    assert wait_status(d, mid, "cancelled")["status"] == "cancelled"
    assert wait_status(d, leaf, "cancelled")["status"] == "cancelled"
    assert subworkflow_metric(d, "started") == 2


def test_unknown_workflow_fails_the_step_at_run_time(launch):
    d = launch()
    # Accepted when registered: the child may be registered later.
    must_put(d, "p", {"steps": [{"id": "call", "type": "workflow", "workflow": "ghost"}]})
    run = must_start(d, "p", wait="10s")
    assert run["status"] == "failed", run
    assert step(run, "call")["error"].startswith("workflow_not_found"), run
    assert "child_run_id" not in step(run, "call"), run
    # Registered afterwards: the next run finds it; an absent version still fails.
    must_put(d, "ghost", {"steps": [{"id": "a", "type": "noop"}]})
    assert must_start(d, "p", wait="10s")["status"] == "succeeded"
    must_put(d, "p2", {"steps": [{"id": "call", "type": "workflow", "workflow": "ghost", "version": 7}]})
    run = must_start(d, "p2", wait="10s")
    assert "workflow_not_found" in step(run, "call")["error"] and "version 7" in step(run, "call")["error"]
    assert subworkflow_metric(d, "refused") == 2


def test_recursion_is_bounded_by_the_depth_limit(launch):
    d = launch("--max-workflow-depth", "3")
    must_put(d, "rec", {"steps": [{"id": "call", "type": "workflow", "workflow": "rec"}]})
    run = must_start(d, "rec", wait="10s")
    assert run["status"] == "failed", run
    chain = [run]
    while "child_run_id" in step(chain[-1], "call"):
        st, doc = get_run(d, step(chain[-1], "call")["child_run_id"])
        assert st == 200, doc
        chain.append(doc)
    assert len(chain) == 4, [c["id"] for c in chain]  # the top run and 3 levels below it
    assert [c.get("parent", {}).get("depth", 0) for c in chain] == [0, 1, 2, 3]
    deepest = step(chain[-1], "call")["error"]
    assert deepest.startswith("workflow_depth_exceeded") and "3" in deepest, deepest
    assert all(c["status"] == "failed" for c in chain), chain
    assert len(runs_of(d, "rec")) == 4


def test_default_depth_limit_is_8(launch):
    d = launch()
    must_put(d, "rec", {"steps": [{"id": "call", "type": "workflow", "workflow": "rec"}]})
    run = must_start(d, "rec", wait="20s")
    assert run["status"] == "failed", run
    wait_until(lambda: len(runs_of(d, "rec")) == 9, 10.0, what="9 runs of rec")


@pytest.mark.parametrize("bad_step, field", [
    ({"id": "c", "type": "workflow"}, "/steps/0/workflow"),
    ({"id": "c", "type": "workflow", "workflow": 5}, "/steps/0/workflow"),
    ({"id": "c", "type": "workflow", "workflow": ""}, "/steps/0/workflow"),
    ({"id": "c", "type": "workflow", "workflow": "has space"}, "/steps/0/workflow"),
    ({"id": "c", "type": "workflow", "workflow": "x" * 129}, "/steps/0/workflow"),
    ({"id": "c", "type": "workflow", "workflow": "w", "version": 0}, "/steps/0/version"),
    ({"id": "c", "type": "workflow", "workflow": "w", "version": "1"}, "/steps/0/version"),
    ({"id": "c", "type": "workflow", "workflow": "w", "version": 1.5}, "/steps/0/version"),
    ({"id": "c", "type": "workflow", "workflow": "w", "input": "{{steps.nope.output}}"}, "/steps/0/input"),
    ({"id": "c", "type": "workflow", "workflow": "w", "retry": {"max_attempts": 2}}, "/steps/0/retry"),
    ({"id": "c", "type": "workflow", "workflow": "w", "request": {}}, "/steps/0/request"),
])
def test_bad_workflow_steps_are_422(launch, bad_step, field):
    d = launch()
    errors = validation_errors(put_workflow(d, "bad", {"steps": [bad_step]}))
    assert field in [e["field"] for e in errors], errors
    assert get_json(d, "/v1/workflows/bad").status == 404


def test_unknown_step_type_names_workflow(launch):
    d = launch()
    errors = validation_errors(put_workflow(d, "bad", {"steps": [{"id": "c", "type": "workflows"}]}))
    assert any(e["field"] == "/steps/0/type" and "workflow" in e["message"] for e in errors), errors


def _kill_and_finish(launch, d, approve: bool):
    must_put(d, "held", HELD_CHILD if approve else
             {"steps": [{"id": "wait", "type": "delay", "ms": 1500}], "output": {"approved": "late"}})
    must_put(d, "p", {"steps": [{"id": "call", "type": "workflow", "workflow": "held"},
                                {"id": "after", "type": "transform", "depends_on": ["call"],
                                 "output": "{{steps.call.output.approved}}"}]})
    run = must_start(d, "p", key="once")
    cid = child_of(d, run["id"])
    kill9(d)
    d2 = relaunch(launch, d)
    if approve:
        st, doc = signal_run(d2, cid, "ok", {"yes": True})
        assert st == 200, doc
    doc = wait_status(d2, run["id"], "succeeded", timeout=15.0)
    assert step(doc, "after")["output"] == ({"yes": True} if approve else "late"), doc
    assert step(doc, "call")["child_run_id"] == cid, doc
    assert [r["id"] for r in runs_of(d2, "held")] == [cid]
    # A start with the same key answers the same parent: nothing new.
    again = must_start(d2, "p", key="once")
    assert again["id"] == run["id"]
    assert len(runs_of(d2, "held")) == 1
    return d2


def test_kill9_while_the_child_waits_for_approval(launch):
    _kill_and_finish(launch, launch(), approve=True)


def test_kill9_while_the_child_waits_on_a_delay(launch):
    _kill_and_finish(launch, launch(), approve=False)


def test_kill9_right_after_the_start_never_doubles_the_child(launch):
    d = launch()
    must_put(d, "child", CHILD)
    must_put(d, "p", PARENT)
    ids = [must_start(d, "p", input={"n": i}, key=f"k{i}")["id"] for i in range(20)]
    kill9(d)
    d2 = relaunch(launch, d)
    for i, rid in enumerate(ids):
        doc = wait_status(d2, rid, "succeeded", timeout=15.0)
        assert step(doc, "after")["output"] == {"got": {"n": i, "tag": "child"}}, doc
    children = runs_of(d2, "child")
    assert len(children) == len(ids), [c["id"] for c in children]


def test_child_cancelled_then_kill9_parent_fails_after_restart(launch):
    """The child is cancelled and the daemon dies at once: after the restart the parent has
    failed with the child's cancellation (whether it heard of it before the crash or found it
    when its waiting step was executed again), and no second child was started."""
    d = launch()
    must_put(d, "held", HELD_CHILD)
    must_put(d, "p", CALLS_HELD)
    run = must_start(d, "p")
    cid = child_of(d, run["id"])
    st, _ = cancel(d, cid)
    assert st == 200
    kill9(d)
    d2 = relaunch(launch, d)
    doc = wait_status(d2, run["id"], "failed", timeout=15.0)
    assert cid in step(doc, "call")["error"], doc
    assert len(runs_of(d2, "held")) == 1


def test_child_runs_stay_in_their_namespace(launch):
    d = launch()
    ns = "/v1/namespaces/team"
    st, doc = put_workflow(d, "child", CHILD)  # default namespace only
    assert st in (200, 201), doc
    st, doc = api_call(d, "PUT", f"{ns}/workflows/p", PARENT)
    assert st in (200, 201), doc
    st, run = api_call(d, "POST", f"{ns}/workflows/p/runs?wait=10s", {"input": {"n": 1}})
    assert st in (200, 201), run
    assert run["status"] == "failed" and "workflow_not_found" in step(run, "call")["error"], run
    assert "team" in step(run, "call")["error"], run
    st, doc = api_call(d, "PUT", f"{ns}/workflows/child", CHILD)
    assert st in (200, 201), doc
    st, run = api_call(d, "POST", f"{ns}/workflows/p/runs?wait=10s", {"input": {"n": 2}})
    assert run["status"] == "succeeded", run
    cid = step(run, "call")["child_run_id"]
    st, child = api_call(d, "GET", f"{ns}/runs/{cid}")
    assert st == 200 and child["namespace"] == "team", child
    assert assert_error(get_run(d, cid), 404, "run_not_found")


def test_retrying_the_parent_starts_a_new_child(launch):
    d = launch()
    must_put(d, "fails", {"steps": [{"id": "ok", "type": "approval", "timeout_ms": 50}]})
    must_put(d, "p", {"steps": [{"id": "call", "type": "workflow", "workflow": "fails"}]})
    run = must_start(d, "p", wait="10s")
    assert run["status"] == "failed", run
    first = step(run, "call")["child_run_id"]
    st, doc = api_call(d, "POST", f"/v1/runs/{run['id']}/retry")
    assert st == 200, doc
    doc = wait_status(d, run["id"], "failed")
    second = step(doc, "call")["child_run_id"]
    assert second != first and len(step(doc, "call")["attempts"]) == 2, doc
    st, child = get_run(d, second)
    assert child["idempotency_key"] == f"workflow-step:{run['id']}/call/2", child
    assert sorted(r["id"] for r in runs_of(d, "fails")) == sorted([first, second])


def test_kill9_right_after_cancelling_parents_leaves_no_live_child(launch):
    """The parent's cancellation is durable when answered; its child's follows in a later
    commit, which a kill -9 may cut off: after the restart every child is cancelled anyway."""
    d = launch()
    must_put(d, "held", HELD_CHILD)
    must_put(d, "p", CALLS_HELD)
    parents = [must_start(d, "p")["id"] for _ in range(10)]
    children = [child_of(d, p) for p in parents]
    for p in parents:
        st, doc = cancel(d, p)
        assert st == 200, doc
    kill9(d)
    d2 = relaunch(launch, d)
    for c in children:
        assert wait_status(d2, c, "cancelled", timeout=15.0)["status"] == "cancelled"
    assert len(runs_of(d2, "held")) == 10
