"""Children of flow-controlled workflows: a `workflow` step (or a map step's workflow item)
starting a run of a workflow with a concurrency key creates it on the key's partition, like an
API start of the same input, so it waits behind the key's other runs whichever shard its parent
is on, and its end, its cancellation and the orphan check after a kill -9 cross shards.

One daemon on either store (RINGFLOW_TEST_STORE=postgres); test_cluster_keyed_children.py has
the same across daemons on PostgreSQL."""

from __future__ import annotations


from engine_client import (call, cancel, get_json, get_run, kill9, must_put, must_start,
                           partition_of, relaunch, signal_run, step, wait_status, wait_step_status,
                           wait_until)


KEYED = {"concurrency": {"key": "{{input.customer}}", "limit": 1},
         "steps": [{"id": "ok", "type": "approval"}],
         "output": {"customer": "{{input.customer}}", "approved": "{{steps.ok.output}}"}}
PARENT = {"steps": [{"id": "call", "type": "workflow", "workflow": "kc",
                     "input": {"customer": "{{input.customer}}", "i": "{{input.i}}"}}],
          "output": "{{steps.call.output}}"}
PARENTS = 12


def _setup(d) -> tuple[str, list[str]]:
    """One API run of acme holding the key's slot, then PARENTS parents (keyed, so spread over
    the partitions) whose children are of acme too."""
    must_put(d, "kc", KEYED)
    must_put(d, "pk", PARENT)
    holder = must_start(d, "kc", input={"customer": "acme"})["id"]
    wait_status(d, holder, "waiting")
    parents = [must_start(d, "pk", input={"customer": "acme", "i": i}, key=f"p{i}")["id"]
               for i in range(PARENTS)]
    return holder, parents


def _child(d, parent: str) -> str:
    doc = wait_step_status(d, parent, "call", {"waiting"})
    return step(doc, "call")["child_run_id"]


def _status(d, run_id: str) -> str:
    st, doc = get_run(d, run_id)
    assert st == 200, (st, doc)
    return doc["status"]


def _kc_runs(d, workflow: str = "kc") -> list[str]:
    st, doc = get_json(d, f"/v1/runs?workflow={workflow}&limit=1000")
    assert st == 200, doc
    return sorted(r["id"] for r in doc["runs"])


def _approve(d, run_id: str) -> None:
    st, doc = signal_run(d, run_id, "ok", {"by": run_id})
    assert st == 200, (st, doc)


def _drain(d, holder: str, children: list[str]) -> None:
    """Frees the slot, then lets the queued children through one at a time: never two at once."""
    _approve(d, holder)
    wait_status(d, holder, "succeeded")
    left = set(children)
    while left:
        wait_until(lambda: any(_status(d, c) == "waiting" for c in left), 10.0,
                   what="a queued child takes the free slot")
        running = [c for c in left if _status(d, c) != "queued"]
        assert len(running) == 1, {c: _status(d, c) for c in left}
        _approve(d, running[0])
        wait_status(d, running[0], "succeeded")
        left.remove(running[0])


def test_a_keyed_child_waits_behind_its_keys_runs_on_the_keys_partition(launch):
    d = launch()
    holder, parents = _setup(d)
    children = [_child(d, p) for p in parents]
    key_partition = partition_of(holder)
    # Created where the key's API runs are, not where their parents are.
    assert {partition_of(c) for c in children} == {key_partition}
    assert any(partition_of(p) != key_partition for p in parents), parents
    assert all(_status(d, c) == "queued" for c in children)
    st, view = get_json(d, "/v1/workflows/kc/concurrency")
    assert st == 200 and view["live"] == 1 and view["queued"] == PARENTS, view
    _drain(d, holder, children)
    for i, p in enumerate(parents):
        doc = wait_status(d, p, "succeeded")
        assert doc["output"] == {"customer": "acme", "approved": {"by": children[i]}}, doc
        assert step(doc, "call")["child_run_id"] == children[i]
        assert get_run(d, children[i])[1]["parent"]["run_id"] == p


def test_kill9_keeps_keyed_children_queued_and_never_doubles_them(launch):
    d = launch()
    holder, parents = _setup(d)
    children = [_child(d, p) for p in parents]
    kill9(d)
    d2 = relaunch(launch, d)
    assert all(_status(d2, c) == "queued" for c in children)
    assert _kc_runs(d2) == sorted([holder] + children)
    _drain(d2, holder, children)
    for i, p in enumerate(parents):
        assert wait_status(d2, p, "succeeded")["output"]["approved"] == {"by": children[i]}
    assert _kc_runs(d2) == sorted([holder] + children)


def test_a_parents_cancellation_reaches_its_keyed_child_also_across_kill9(launch):
    d = launch()
    holder, parents = _setup(d)
    children = [_child(d, p) for p in parents]
    half = PARENTS // 2
    for p in parents[:half]:
        st, doc = cancel(d, p)
        assert st == 200, doc
    for c in children[:half]:
        assert wait_status(d, c, "cancelled")["status"] == "cancelled"
    # The other half: cancelled, then a kill -9 that may cut off the children's cancellation.
    for p in parents[half:]:
        st, doc = cancel(d, p)
        assert st == 200, doc
    kill9(d)
    d2 = relaunch(launch, d)
    for c in children:
        assert wait_status(d2, c, "cancelled")["status"] == "cancelled"
    assert _status(d2, holder) == "waiting"
    st, view = get_json(d2, "/v1/workflows/kc/concurrency")
    assert st == 200 and view["live"] == 1 and view["queued"] == 0, view


def test_a_cancelled_keyed_child_fails_its_parents_step_naming_it(launch):
    """The child's end reaches its parent on another shard (the success path: the tests above)."""
    d = launch()
    holder, parents = _setup(d)
    children = [_child(d, p) for p in parents]
    for c in children:
        st, doc = cancel(d, c)
        assert st == 200 and doc["status"] == "cancelled", doc
    for p, c in zip(parents, children):
        doc = wait_status(d, p, "failed")
        assert c in step(doc, "call")["error"] and "cancelled" in step(doc, "call")["error"], doc
    assert _status(d, holder) == "waiting"


def test_map_items_of_a_keyed_workflow_run_on_their_keys_partitions(launch):
    d = launch()
    must_put(d, "kt", {"concurrency": {"key": "{{input.customer}}", "limit": 1},
                       "steps": [{"id": "a", "type": "transform", "output": {"c": "{{input.customer}}"}}],
                       "output": "{{steps.a.output}}"})
    must_put(d, "mk", {"steps": [{"id": "m", "type": "map", "items": "{{input.list}}", "concurrency": 4,
                                  "step": {"type": "workflow", "workflow": "kt",
                                           "input": {"customer": "{{input.c}}"}}}]})
    customers = [f"c{i % 3}" for i in range(9)]
    run = must_start(d, "mk", input={"list": [{"c": c} for c in customers]}, key="m1", wait="15s")
    assert run["status"] == "succeeded", run
    assert step(run, "m")["output"] == [{"c": c} for c in customers], run
    children = _kc_runs(d, "kt")
    assert len(children) == len(customers)
    # Where an API start of each key lands.
    home = {c: partition_of(must_start(d, "kt", input={"customer": c}, wait="10s")["id"])
            for c in sorted(set(customers))}
    assert len(set(home.values()) | {partition_of(run["id"])}) > 1, home
    for cid in children:
        st, doc = get_run(d, cid)
        assert st == 200 and doc["parent"]["run_id"] == run["id"], doc
        assert partition_of(cid) == home[doc["input"]["customer"]], (cid, doc["input"])
