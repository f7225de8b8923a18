"""Step-level concurrency limits per key (issue 14 item 4): an http step's
"concurrency": {"key", "limit", "scope"?}.

Invariants checked against a local server that counts the calls in progress per key:
- at most `limit` calls per key at once, across runs spread over both shards (the permits of a
  key live on one home shard; the others ask it by message);
- a saturated key does not hold back another key (fairness), and the calls of one key are made
  in the order their attempts asked (FIFO);
- a waiting step shows as "waiting" with the key in GET /v1/runs/{id}, per key in
  GET /v1/workflows/{name}/concurrency and in /metrics (bounded labels);
- cancelling a waiting run drops its place (its call is never made, the next one goes);
- after kill -9 with attempts waiting, a restart finishes every run and the limit still holds;
- every malformed "concurrency" is a 422 at its pointer.
Runs on the store RINGFLOW_TEST_STORE names (embedded or postgres).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import rfclient
from engine_client import (call, cancel, get_json, get_run, kill9, must_put, must_start, put_workflow,
                           relaunch, validation_errors, wait_status, wait_until)

SHARDS = 2


class KeyedServer:
    """Counts calls in progress per key ("k" of the JSON body), the most seen at once, the
    order ("n") in which the calls of a key arrived and the traceparent header each carried. Calls of a gated key wait for release();
    the others are held `hold` seconds."""

    def __init__(self, hold: float = 0.05):
        self.lock = threading.Lock()
        self.current: dict[str, int] = {}
        self.max_seen: dict[str, int] = {}
        self.order: dict[str, list] = {}
        self.traceparents: dict[str, list] = {}
        self.gates: dict[str, threading.Semaphore] = {}
        self.hold = hold
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                k = str(body.get("k"))
                with outer.lock:
                    outer.current[k] = outer.current.get(k, 0) + 1
                    outer.max_seen[k] = max(outer.max_seen.get(k, 0), outer.current[k])
                    outer.order.setdefault(k, []).append(body.get("n"))
                    outer.traceparents.setdefault(k, []).append(self.headers.get("traceparent"))
                    gate = outer.gates.get(k)
                if gate is not None:
                    gate.acquire(timeout=30)
                else:
                    time.sleep(outer.hold)
                with outer.lock:
                    outer.current[k] -= 1
                out = json.dumps({"echo": body}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/call"

    def gate(self, key: str) -> None:
        self.gates[key] = threading.Semaphore(0)

    def release(self, key: str, n: int = 1) -> None:
        for _ in range(n):
            self.gates[key].release()

    def now(self, key: str) -> int:
        with self.lock:
            return self.current.get(key, 0)

    def seen(self, key: str) -> list:
        with self.lock:
            return list(self.order.get(key, []))

    def close(self):
        for g in self.gates.values():
            g.release(1000)
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server():
    srv = KeyedServer()
    yield srv
    srv.close()


def wf(url: str, limit: int, scope: str | None = None, attempts: int = 5) -> dict:
    c = {"key": "{{input.k}}", "limit": limit}
    if scope:
        c["scope"] = scope
    return {"steps": [{"id": "call", "type": "http", "concurrency": c,
                       "retry": {"max_attempts": attempts, "initial_ms": 50, "max_ms": 200},
                       "request": {"method": "POST", "url": url,
                                   "body": {"k": "{{input.k}}", "n": "{{input.n}}"}}}]}


# The engine's routing (base/hash_ring.h): a run id's partition (its 8th byte) -> shard.
def _mix64(x: int) -> int:
    m = (1 << 64) - 1
    x = (x + 0x9E3779B97F4A7C15) & m
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & m
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & m
    return x ^ (x >> 31)


def shard_of(run_id: str, shards: int = SHARDS) -> int:
    partition = bytes.fromhex(run_id.replace("-", ""))[7]
    points = sorted((_mix64(((node << 32) | v) ^ 0x5CA1AB1E0DDBA11), node)
                    for node in range(shards) for v in range(64))
    h = _mix64(partition ^ 0xC0FFEE15DEADBEEF)
    for ph, node in points:
        if ph >= h:
            return node
    return points[0][1]


def start(d, name: str, k: str, n: int, key: str | None = None) -> str:
    """`key`: an Idempotency-Key, which puts the run on the partition of (workflow, key): a
    shard fixed by the key, where a start without one goes to the shard that took the
    connection (the kernel's choice, which may well be one shard ten times in a row)."""
    headers = {"Idempotency-Key": key} if key else None
    st, doc = call(d, "POST", f"/v1/workflows/{name}/runs", {"input": {"k": k, "n": n}}, headers=headers)
    assert st == 201, (st, doc)
    return doc["id"]


def view(d, name: str = "sk") -> dict:
    st, doc = get_json(d, f"/v1/workflows/{name}/concurrency")
    assert st == 200, (st, doc)
    return doc["steps"]


def key_view(d, key: str, name: str = "sk") -> dict:
    for k in view(d, name)["keys"]:
        if k["key"] == key:
            return k
    return {"key": key, "in_use": 0, "waiting": 0}


def metric(d, name: str, **labels) -> float | None:
    resp = rfclient.get(d.port, "/metrics")
    assert resp.status == 200
    for n, lab, v in rfclient.parse_metrics(resp.body.decode()):
        if n == name and all(lab.get(k) == v2 for k, v2 in labels.items()):
            return v
    return None


def test_limit_holds_across_shards_other_keys_proceed_fifo_and_visible(launch, server):
    d = launch()
    must_put(d, "sk", wf(server.url, 2))
    server.gate("busy")
    busy = []
    for n in range(10):
        busy.append(start(d, "sk", "busy", n, key=f"busy-{n}"))
        # Each attempt has asked before the next starts, so the queue order is the start order.
        want = max(0, n + 1 - 2)
        wait_until(lambda: key_view(d, "busy")["waiting"] == want, 10.0, what=f"{want} waiting")
    assert {shard_of(r) for r in busy} == set(range(SHARDS)), "the runs must use both shards"
    wait_until(lambda: server.now("busy") == 2, 10.0, what="2 busy calls")
    kv = key_view(d, "busy")
    assert kv["in_use"] == 2 and kv["waiting"] == 8 and kv["limit"] == 2 and kv["step"] == "call", kv
    # A waiting step is shown as such.
    st, run = get_run(d, busy[-1])
    assert st == 200 and run["status"] == "running", run
    step = run["steps"][0]
    assert step["status"] == "waiting", step
    assert step["waiting_for"] == {"reason": "concurrency_limit", "key": "busy", "limit": 2}, step
    # Another key is not held back by the saturated one.
    for n in range(3):
        doc = must_start(d, "sk", input={"k": "quiet", "n": n}, wait="10s")
        assert doc["status"] == "succeeded", doc
    assert server.now("busy") == 2 and key_view(d, "busy")["waiting"] == 8
    # /metrics: the busy key by name (published within a second), permits in use.
    wait_until(lambda: metric(d, "rf_step_permits_waiting", scope="sk#call", key="busy") == 8, 5.0,
               what="rf_step_permits_waiting for busy")
    assert metric(d, "rf_step_permits_in_use", scope="sk#call", key="busy") == 2
    assert metric(d, "rf_step_permit_asking") == 8
    # Released one at a time, each release letting exactly one more call in: never above the
    # limit, and the calls come in the order their attempts asked.
    for i in range(8):
        server.release("busy")
        wait_until(lambda: len(server.seen("busy")) == 3 + i, 10.0, what=f"call {3 + i}")
    server.release("busy", 2)
    for r in busy:
        wait_status(d, r, "succeeded", timeout=20.0)
    assert server.max_seen["busy"] == 2, server.max_seen
    order = server.seen("busy")
    assert sorted(order[:2]) == [0, 1] and order[2:] == list(range(2, 10)), order
    wait_until(lambda: view(d)["keys"] == [], 5.0, what="no keys left")
    assert metric(d, "rf_step_permit_asking") == 0
    assert metric(d, "rf_step_permit_keys") == 0


def test_many_runs_never_exceed_the_limit_per_key(launch, server):
    d = launch()
    must_put(d, "sk", wf(server.url, 3))
    server.gate("k0")
    server.gate("k1")
    ids = [start(d, "sk", f"k{i % 2}", i) for i in range(40)]
    assert {shard_of(r) for r in ids} == set(range(SHARDS))
    # Both keys saturated at once: 3 calls each, the other 17 of each waiting.
    wait_until(lambda: server.now("k0") == 3 and server.now("k1") == 3 and
               view(d)["waiting"] == 34, 15.0, what="both keys at their limit")
    server.release("k0", 20)
    server.release("k1", 20)
    for r in ids:
        wait_status(d, r, "succeeded", timeout=30.0)
    assert server.max_seen == {"k0": 3, "k1": 3}, server.max_seen
    assert sorted(server.seen("k0") + server.seen("k1")) == list(range(40))


def test_cancel_while_waiting_drops_the_place(launch, server):
    d = launch()
    must_put(d, "sk", wf(server.url, 1))
    server.gate("c")
    runs = []
    for n in range(4):
        runs.append(start(d, "sk", "c", n))
        wait_until(lambda: key_view(d, "c")["waiting"] == n, 10.0, what=f"{n} waiting")
    st, doc = cancel(d, runs[2])
    assert st == 200 and doc["status"] == "cancelled", doc
    wait_until(lambda: key_view(d, "c")["waiting"] == 2, 5.0, what="its place dropped")
    server.release("c", 3)
    for i in (0, 1, 3):
        wait_status(d, runs[i], "succeeded", timeout=10.0)
    assert server.seen("c") == [0, 1, 3]  # the cancelled run's call was never made
    assert server.max_seen["c"] == 1
    assert metric(d, "rf_step_permit_cancelled_total") == 1
    st, run = get_run(d, runs[2])
    assert run["status"] == "cancelled" and "waiting_for" not in run["steps"][0], run


def test_a_scope_is_shared_by_steps_of_two_workflows(launch, server):
    d = launch()
    must_put(d, "sa", wf(server.url, 1, scope="payments-api"))
    must_put(d, "sb", wf(server.url, 1, scope="payments-api"))
    server.gate("x")
    a = start(d, "sa", "x", 0)
    wait_until(lambda: server.now("x") == 1, 10.0, what="a's call")
    b = start(d, "sb", "x", 1)
    wait_until(lambda: key_view(d, "x", "sb")["waiting"] == 1, 10.0, what="b waits for a's permit")
    st, run = get_run(d, b)
    assert run["steps"][0]["waiting_for"]["scope"] == "payments-api", run
    assert key_view(d, "x", "sa")["scope"] == "payments-api"
    assert view(d, "sa")["limits"] == [{"step": "call", "limit": 1, "key": "{{input.k}}", "scope": "payments-api"}]
    server.release("x", 2)
    wait_status(d, a, "succeeded")
    wait_status(d, b, "succeeded")
    assert server.max_seen["x"] == 1


def test_kill9_with_waiting_attempts_then_restart(launch):
    srv = KeyedServer(hold=0.3)
    try:
        d = launch()
        must_put(d, "sk", wf(srv.url, 2))
        ids = [start(d, "sk", "r", i) for i in range(8)]
        wait_until(lambda: key_view(d, "r")["waiting"] >= 3 and srv.now("r") == 2, 10.0,
                   what="calls under way and attempts waiting")
        kill9(d)
        # The dead process's calls end at the server; nothing of theirs is held after that.
        wait_until(lambda: srv.now("r") == 0, 5.0, what="old calls over")
        srv.max_seen["r"] = 0
        d2 = relaunch(launch, d)
        for r in ids:
            wait_status(d2, r, "succeeded", timeout=30.0)
        assert srv.max_seen["r"] == 2, srv.max_seen  # reached, and never above, after the restart
        assert view(d2, "sk")["keys"] == []
    finally:
        srv.close()


def test_waiters_are_bounded_and_the_attempt_past_the_bound_fails(launch, server):
    d = launch("--step-permit-waiters", "2")
    must_put(d, "sk", wf(server.url, 1, attempts=1))
    server.gate("q")
    runs = []
    for n in range(3):
        runs.append(start(d, "sk", "q", n))
        wait_until(lambda: key_view(d, "q")["waiting"] == n, 10.0, what=f"{n} waiting")
    over = start(d, "sk", "q", 3)
    run = wait_status(d, over, "failed")
    assert "concurrency_queue_full" in run["steps"][0]["error"], run
    assert metric(d, "rf_step_permit_refused_total") == 1
    assert key_view(d, "q")["waiting"] == 2
    server.release("q", 3)
    for r in runs:
        wait_status(d, r, "succeeded")
    assert server.seen("q") == [0, 1, 2]


BAD = [
    ({"key": "{{input.k}}"}, "/steps/0/concurrency/limit"),
    ({"limit": 2}, "/steps/0/concurrency/key"),
    ({"key": "", "limit": 2}, "/steps/0/concurrency/key"),
    ({"key": 5, "limit": 2}, "/steps/0/concurrency/key"),
    ({"key": "{{input.k", "limit": 2}, "/steps/0/concurrency/key"),
    ({"key": "k", "limit": 0}, "/steps/0/concurrency/limit"),
    ({"key": "k", "limit": -1}, "/steps/0/concurrency/limit"),
    ({"key": "k", "limit": 100001}, "/steps/0/concurrency/limit"),
    ({"key": "k", "limit": 2.5}, "/steps/0/concurrency/limit"),
    ({"key": "k", "limit": "2"}, "/steps/0/concurrency/limit"),
    ({"key": "k", "limit": 2, "scope": ""}, "/steps/0/concurrency/scope"),
    ({"key": "k", "limit": 2, "scope": "no/slash"}, "/steps/0/concurrency/scope"),
    ({"key": "k", "limit": 2, "per_key": 1}, "/steps/0/concurrency/per_key"),
    ("5", "/steps/0/concurrency"),
]


def test_bad_concurrency_is_422_at_its_pointer(launch):
    d = launch()
    for conc, pointer in BAD:
        step = {"id": "call", "type": "http", "request": {"url": "http://127.0.0.1:9/"},
                "concurrency": 5 if conc == "5" else conc}
        errs = validation_errors(put_workflow(d, "bad", {"steps": [step]}))
        assert pointer in [e["field"] for e in errs], (conc, errs)


def test_concurrency_on_a_step_that_is_not_http_is_422(launch):
    d = launch()
    for step in ({"id": "s", "type": "noop"}, {"id": "s", "type": "delay", "ms": 1},
                 {"id": "s", "type": "approval"}, {"id": "s", "type": "transform", "output": 1}):
        step = dict(step, concurrency={"key": "k", "limit": 1})
        errs = validation_errors(put_workflow(d, "bad", {"steps": [step]}))
        assert [e["field"] for e in errs] == ["/steps/0/concurrency"], errs
        assert "http steps only" in errs[0]["message"], errs
