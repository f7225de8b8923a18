"""PostgreSQL restarted in the middle of a load (RINGFLOW_TEST_STORE=postgres only).

While the database is away the daemon must say so (writes 503 with Retry-After, or
/health/ready 503), nothing it acknowledged may be lost, and the runs it accepted must
finish once the database is back, without a restart of ringflow.
"""

from __future__ import annotations

import threading
import time

import pytest

import rfclient
from conftest import store_under_test
from engine_client import get_run, must_put, request, wait_until

pytestmark = pytest.mark.skipif(store_under_test() != "postgres",
                                reason="runs with RINGFLOW_TEST_STORE=postgres (tools/test.sh system-pg)")

W3 = {"steps": [{"id": "a", "type": "noop"},
                {"id": "b", "type": "noop", "depends_on": ["a"]},
                {"id": "c", "type": "noop", "depends_on": ["b"]}]}


def test_runs_survive_a_postgres_restart_under_load(launch, pg):
    d = launch()
    must_put(d, "w3", W3)
    answered: dict[str, str] = {}  # key -> run id, for every 201
    unavailable = {"starts": 0, "retry_after": 0}
    other: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def load(worker: int):
        n = 0
        while not stop.is_set():
            n += 1
            key = f"w{worker}-{n}"
            try:
                r = request(d, "POST", "/v1/workflows/w3/runs", {"input": {"k": key}},
                            headers={"Idempotency-Key": key}, timeout=30.0)
            except (rfclient.NoResponse, OSError) as e:  # a request in flight at the stop
                with lock:
                    other.append(f"{key}: {e!r}")
                continue
            with lock:
                if r.status == 201:
                    answered[key] = r.json()["id"]
                elif r.status == 503:
                    unavailable["starts"] += 1
                    if r.header("retry-after"):
                        unavailable["retry_after"] += 1
                else:
                    other.append(f"{key}: {r.status} {r.body[:200]!r}")
            if r.status == 503:
                time.sleep(0.05)

    ready_503 = threading.Event()

    def watch_ready():
        while not stop.is_set():
            try:
                if rfclient.get(d.port, "/health/ready", timeout=2.0).status == 503:
                    ready_503.set()
            except (rfclient.NoResponse, OSError):
                pass
            time.sleep(0.05)

    threads = [threading.Thread(target=load, args=(i,)) for i in range(4)]
    threads.append(threading.Thread(target=watch_ready))
    for t in threads:
        t.start()
    try:
        wait_until(lambda: len(answered) >= 200, timeout=30.0, what="200 runs before the restart")
        pg.stop()
        time.sleep(1.5)  # long enough for the daemon to notice and for writes to be refused
        pg.start()
        wait_until(lambda: rfclient.get(d.port, "/health/ready", timeout=2.0).status == 200,
                   timeout=30.0, what="/health/ready 200 again after the restart")
        before = len(answered)
        wait_until(lambda: len(answered) >= before + 100, timeout=30.0,
                   what="starts answered 201 again after the restart")
    finally:
        stop.set()
        for t in threads:
            t.join(60.0)
    assert not any(t.is_alive() for t in threads)
    assert d.alive(), f"ringflow died during the restart:\n{d.log_tail()}"
    assert not other, other[:5]
    # The outage was visible: refused writes carry Retry-After, and readiness dropped.
    assert ready_503.is_set() or unavailable["starts"] > 0
    assert unavailable["retry_after"] == unavailable["starts"]
    # Every acknowledged run is there and finishes.
    for key, rid in answered.items():
        deadline = time.monotonic() + 60.0
        while True:
            st, run = get_run(d, rid)
            assert st == 200, f"{key} -> {rid}: GET {st} {run}"
            if run["status"] == "succeeded":
                break
            assert run["status"] in ("pending", "running"), (key, run)
            assert time.monotonic() < deadline, f"{rid} not finished: {run['status']}"
            time.sleep(0.1)
    # Idempotency survived too: the same key answers with the same run, not a new one.
    some_key = next(iter(answered))
    r = request(d, "POST", "/v1/workflows/w3/runs", {"input": {"k": some_key}},
                headers={"Idempotency-Key": some_key})
    assert r.status == 200 and r.json()["id"] == answered[some_key]


def test_an_instance_that_lost_its_leases_stops_instead_of_writing(launch, pg):
    """Fencing: another owner took the partitions (a higher epoch); the next commit finds
    out inside its transaction, writes nothing, and the daemon exits (75) for its
    supervisor to restart it as a follower."""
    d = launch()
    must_put(d, "w3", W3)
    st, run = request(d, "POST", "/v1/workflows/w3/runs?wait=5s", {"input": {}}).status, None
    assert st in (200, 201)
    db = [a for a in d.args if a.startswith("postgresql://")][0].rsplit("/", 1)[1]
    before = int(pg.psql("SELECT count(*) FROM run_records;", db=db).strip())
    pg.psql("UPDATE partition_leases SET owner = 'another-instance', epoch = epoch + 100;", db=db)
    try:
        r = request(d, "POST", "/v1/workflows/w3/runs", {"input": {}}, timeout=10.0)
        assert r.status != 201, "a start was acknowledged by an instance without its leases"
    except (rfclient.NoResponse, OSError):
        pass  # the daemon stopped while answering: what fencing is for
    d.killed = True  # exiting is the expected outcome here, not a crash to report
    assert d.wait(15.0) == 75, f"expected exit 75, got {d.proc.returncode}\n{d.log_tail()}"
    after = int(pg.psql("SELECT count(*) FROM run_records;", db=db).strip())
    assert after == before, "the fenced instance still wrote run records"
    assert "lost its partition leases" in d.log_tail()
