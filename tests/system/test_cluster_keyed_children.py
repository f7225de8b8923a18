"""Children of flow-controlled workflows in a cluster (PostgreSQL, two daemons): a workflow step
of a keyed workflow starts its child on the key's partition, on whichever daemon holds it (sent
there as a signed API start with X-Ringflow-Parent), so the child waits behind the key's other
runs there; the parent watches it from its own daemon and takes its end; the parent's end
cancels it there; a kill -9 of the parent's daemon finds the same child again, never a second.
Start requests naming a parent are refused from anyone but a daemon of the cluster."""

from __future__ import annotations

import pytest

from conftest import store_under_test
from engine_client import (call, get_json, get_run, kill9, must_put, must_start, relaunch, signal_run,
                           step, wait_status, wait_step_status, wait_until)

pytestmark = pytest.mark.skipif(store_under_test() != "postgres", reason="a cluster shares PostgreSQL")

KEYED = {"concurrency": {"key": "{{input.customer}}", "limit": 1},
         "steps": [{"id": "ok", "type": "approval"}],
         "output": {"customer": "{{input.customer}}", "approved": "{{steps.ok.output}}"}}
PARENT = {"steps": [{"id": "call", "type": "workflow", "workflow": "kc",
                     "input": {"customer": "{{input.customer}}"}}],
          "output": "{{steps.call.output}}"}
CUSTOMERS = [f"c{i}" for i in range(6)]


@pytest.fixture
def cluster(launch, pg):
    from test_pg_spread import shared_by
    from test_pg_store import fresh_db, launch_pg

    _, url = fresh_db(pg)
    d1 = launch_pg(launch, url, "--migrate", "true")
    d2 = launch_pg(launch, url)
    wait_until(lambda: shared_by(d1, d2), 20.0, 0.1, "d1 and d2 share the partitions")
    must_put(d1, "kc", KEYED)
    must_put(d1, "pk", PARENT)
    wait_until(lambda: all(get_json(d2, f"/v1/workflows/{w}")[0] == 200 for w in ("kc", "pk")), 10, 0.1,
               "d2 knows the workflows")
    return d1, d2, url


def _live(d, workflow: str) -> set[str]:
    """The live runs of `workflow` on the partitions `d` holds (it lists only those)."""
    st, doc = get_json(d, f"/v1/runs?workflow={workflow}&limit=1000")
    assert st == 200, doc
    return {r["id"] for r in doc["runs"]}


def _setup(d1, d2):
    """Per customer: an API run holding the key's slot, then a parent on each daemon (a start
    without a key stays on the daemon that took it). Returns (holders, parents, children)."""
    holders = {c: must_start(d1, "kc", input={"customer": c})["id"] for c in CUSTOMERS}
    for rid in holders.values():
        wait_status(d1, rid, {"waiting"})
    parents = {}
    for c in CUSTOMERS:
        for d in (d1, d2):
            parents[(c, d.port)] = must_start(d, "pk", input={"customer": c})["id"]
    children = {}
    for k, p in parents.items():
        doc = wait_step_status(d1, p, "call", {"waiting"}, timeout=15.0)
        children[k] = step(doc, "call")["child_run_id"]
    return holders, parents, children


def _approve(d, rid: str, timeout: float = 20.0) -> None:
    """Signals the run's approval; a partition still moving (503, after a kill -9) is waited out."""
    answers = []

    def sent() -> bool:
        st, doc = signal_run(d, rid, "ok", {"by": rid})
        answers.append((st, doc))
        assert st in (200, 503), (st, doc)
        return st == 200

    wait_until(sent, timeout, 0.2, f"the signal of {rid} is taken ({answers[-1:]})")


def test_a_keyed_child_waits_on_the_daemon_holding_its_key_and_ends_its_parent(cluster):
    d1, d2, _ = cluster
    holders, parents, children = _setup(d1, d2)
    for c in children.values():
        assert wait_status(d1, c, {"queued"})["status"] == "queued"
    # Each child lives where its key's API run does; some on the other daemon than their parent.
    where = {d.port: _live(d, "kc") for d in (d1, d2)}
    parents_at = {d.port: _live(d, "pk") for d in (d1, d2)}
    crossed = 0
    for (c, _), child in children.items():
        child_port = next(p for p, ids in where.items() if child in ids)
        assert holders[c] in where[child_port], (c, child, where)
        parent_port = next(p for p, ids in parents_at.items() if parents[(c, _)] in ids)
        crossed += parent_port != child_port
    assert crossed > 0, "no child on another daemon than its parent"
    # The slot frees and the children go one at a time per key; each parent takes its child's end.
    for c in CUSTOMERS:
        _approve(d1, holders[c])
    left = dict(children)
    while left:
        wait_until(lambda: any(get_run(d1, ch)[1]["status"] == "waiting" for ch in left.values()), 15.0,
                   what="a child takes its key's slot")
        running = {k: ch for k, ch in left.items() if get_run(d1, ch)[1]["status"] == "waiting"}
        assert len({k[0] for k in running}) == len(running), running  # never two of one key
        for k, ch in running.items():
            _approve(d1, ch)
            del left[k]
    for k, p in parents.items():
        doc = wait_status(d1, p, {"succeeded"}, timeout=15.0)
        assert doc["output"] == {"customer": k[0], "approved": {"by": children[k]}}, doc
    st, doc = get_json(d1, "/v1/runs?workflow=kc&limit=1000")
    assert st == 200 and len(doc["runs"]) == len(CUSTOMERS) + len(children), doc


def test_a_parents_end_cancels_its_keyed_child_on_the_other_daemon(cluster):
    d1, d2, _ = cluster
    holders, parents, children = _setup(d1, d2)
    for k, p in parents.items():
        st, doc = call(d1, "POST", f"/v1/runs/{p}/cancel")
        assert st == 200, doc
    for c in children.values():
        assert wait_status(d1, c, {"cancelled"}, timeout=15.0)["status"] == "cancelled"
    for rid in holders.values():
        assert get_run(d1, rid)[1]["status"] == "waiting"


def test_kill9_of_the_parents_daemon_finds_the_same_child_again(cluster, launch):
    d1, d2, url = cluster
    holders, parents, children = _setup(d1, d2)
    mine = {k: p for k, p in parents.items() if k[1] == d2.port}
    kill9(d2)
    from test_pg_spread import shared_by
    from test_pg_store import launch_pg
    d2b = launch_pg(launch, url)
    # The dead daemon's leases expire (4 s) before its partitions are held again.
    wait_until(lambda: shared_by(d1, d2b), 30.0, 0.2, "d1 and the restarted d2 share the partitions")
    for c in CUSTOMERS:
        _approve(d1, holders[c])
    left = dict(children)
    while left:
        wait_until(lambda: any(get_run(d1, ch)[1].get("status") == "waiting" for ch in left.values()), 20.0,
                   what="a child takes its key's slot")
        for k, ch in list(left.items()):
            if get_run(d1, ch)[1].get("status") == "waiting":
                _approve(d1, ch)
                del left[k]
    for k, p in mine.items():
        doc = wait_status(d2b, p, {"succeeded"}, timeout=20.0)
        assert doc["output"]["approved"] == {"by": children[k]}, doc
    st, doc = get_json(d1, "/v1/runs?workflow=kc&limit=1000")
    assert st == 200 and len(doc["runs"]) == len(CUSTOMERS) + len(children), doc


def test_a_child_on_the_other_daemon_joins_its_parents_trace(cluster):
    from test_engine_step_concurrency import KeyedServer

    d1, d2, _ = cluster
    srv = KeyedServer(hold=0)
    try:
        must_put(d1, "kt", {"concurrency": {"key": "{{input.customer}}", "limit": 5},
                            "steps": [{"id": "tell", "type": "http",
                                       "request": {"method": "POST", "url": srv.url,
                                                   "body": {"k": "{{input.customer}}"}}}]})
        must_put(d1, "pt", {"steps": [{"id": "call", "type": "workflow", "workflow": "kt",
                                       "input": {"customer": "{{input.customer}}"}}]})
        wait_until(lambda: all(get_json(d2, f"/v1/workflows/{w}")[0] == 200 for w in ("kt", "pt")), 10, 0.1,
                   "d2 knows the workflows")
        traces, parents = {}, []
        for i in range(12):
            for d in (d1, d2):
                customer = f"t{i}-{d.port}"
                traces[customer] = f"{i + 1:02x}{d.port:06x}" + "ab" * 12
                st, doc = call(d, "POST", "/v1/workflows/pt/runs", {"input": {"customer": customer}},
                               headers={"traceparent": f"00-{traces[customer]}-00f067aa0ba902b7-01"})
                assert st == 201, (st, doc)
                parents.append((d, doc["id"]))
        for d, p in parents:
            assert wait_status(d, p, {"succeeded", "failed"}, timeout=20.0)["status"] == "succeeded"
        # Children on both daemons: their runs are listed where their partitions are held.
        assert _live(d1, "kt") and _live(d2, "kt")
        for customer, trace in traces.items():
            sent = srv.traceparents.get(customer)
            assert sent and sent[0] and sent[0].split("-")[1] == trace, (customer, trace, sent)
    finally:
        srv.close()


def test_only_a_daemon_of_the_cluster_may_name_a_parent(launch, pg):
    from test_auth import ADMIN, api
    from test_pg_store import fresh_db, launch_pg

    _, url = fresh_db(pg)
    d = launch_pg(launch, url, "--migrate", "true", "--auth", "on", env={"RINGFLOW_ADMIN_KEY": ADMIN})
    resp, doc = api(d, "PUT", "/v1/workflows/kc", ADMIN, KEYED)
    assert resp.status == 201, doc
    parent = "01a2450e-744d-70a4-b186-56469afeb6ee;1;1;call"
    resp, doc = api(d, "POST", "/v1/workflows/kc/runs", ADMIN, {"input": {"customer": "x"}},
                    headers={"X-Ringflow-Parent": parent})
    assert resp.status == 403 and doc["error"]["code"] == "forbidden", doc
    resp, doc = api(d, "GET", "/v1/runs?workflow=kc", ADMIN)
    assert resp.status == 200 and doc["runs"] == [], doc


@pytest.mark.parametrize("header", ["x", "01a2450e-744d-70a4-b186-56469afeb6ee;1;1", "not-an-id;1;1;call",
                                    "01a2450e-744d-70a4-b186-56469afeb6ee;0;1;call",
                                    "01a2450e-744d-70a4-b186-56469afeb6ee;1;0;call",
                                    "01a2450e-744d-70a4-b186-56469afeb6ee;1;99;call",
                                    "01a2450e-744d-70a4-b186-56469afeb6ee;1;1;"])
def test_a_malformed_parent_link_is_400(cluster, header):
    d1, _, _ = cluster
    st, doc = call(d1, "POST", "/v1/workflows/kc/runs", {"input": {"customer": "x"}},
                   headers={"X-Ringflow-Parent": header})
    assert st == 400 and "X-Ringflow-Parent" in doc["error"]["message"], (st, doc)
