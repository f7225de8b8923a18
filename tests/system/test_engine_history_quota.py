"""The quota on retained history bytes (--quotas-file "retained_history_bytes", README "Quotas"):
a namespace that keeps as many bytes of finished runs as its limit gets 429 quota_exceeded on
every start (API and schedules) until retention brings it back under; another namespace is not
affected; the count survives kill -9 and a restart; SIGHUP changes the limit; bad values stop the
start naming the JSON pointer. Both stores (RINGFLOW_TEST_STORE=postgres runs it on PostgreSQL,
where the totals are re-read every 2 s)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess

import pytest

import rfclient
from conftest import store_under_test
from engine_client import assert_error, call, data_dir, kill9, relaunch, term, wait_until

QUICK = {"steps": [{"id": "only", "type": "noop"}]}
LIMIT = 3000  # bytes: a few noop runs' logs


def write_quotas(path, limit: int) -> str:
    path.write_text(json.dumps({"namespaces": {"hist": {"retained_history_bytes": limit},
                                               "roomy": {"live_runs": 1000}}}))
    return str(path)


def put(d, ns, name, definition):
    st, doc = call(d, "PUT", f"/v1/namespaces/{ns}/workflows/{name}", definition)
    assert st in (200, 201), (st, doc)


def start(d, ns):
    return call(d, "POST", f"/v1/namespaces/{ns}/workflows/quick/runs", {})


def history_bytes(d, ns="hist") -> float:
    return rfclient.metric_sum(rfclient.scrape(d.port), "rf_namespace_history_bytes", namespace=ns)


def live(d, ns="hist") -> float:
    return rfclient.metric_sum(rfclient.scrape(d.port), "rf_namespace_live_runs", namespace=ns)


def assert_over(reply):
    body = assert_error(reply, 429, "quota_exceeded")
    assert "retained_history_bytes" in body["message"], body
    retry = reply.resp.header("retry-after")
    assert retry is not None and int(retry) >= 1, reply.resp
    return body


def fill(d) -> int:
    """Starts runs in "hist" until one is refused; returns how many were admitted."""
    admitted = []

    def refused() -> bool:
        reply = start(d, "hist")
        if reply[0] == 201:
            admitted.append(reply[1]["id"])
            return False
        assert_over(reply)
        return True

    wait_until(refused, 40.0, 0.2, "a start refused for the namespace's retained history")
    return len(admitted)


def settled(d) -> float:
    """The namespace's bytes once no run of it is live and the total stopped moving."""
    wait_until(lambda: live(d) == 0, 10.0, 0.1, "the runs finished")
    seen = []

    def steady() -> bool:
        seen.append(history_bytes(d))
        return len(seen) >= 2 and seen[-1] == seen[-2] and seen[-1] > 0

    wait_until(steady, 15.0, 2.5 if store_under_test() == "postgres" else 0.5, "a steady total")
    return seen[-1]


def expire_on_postgres(request, d, ns: str) -> None:
    """PostgreSQL retention drops whole days of runs (a day in the past), which a test cannot
    wait for: remove the namespace's finished runs the way a dropped day removes them."""
    pg = request.getfixturevalue("pg")
    db = "rf_" + hashlib.sha1(data_dir(d).encode()).hexdigest()[:16]
    pg.psql(f"DELETE FROM run_records WHERE run_id IN (SELECT run_id FROM runs WHERE "
            f"starts_with(workflow, '{ns}/') AND finished_at IS NOT NULL); "
            f"DELETE FROM runs WHERE starts_with(workflow, '{ns}/') AND finished_at IS NOT NULL;",
            db=db)


def test_history_bytes_quota_refuses_then_survives_restart_and_expiry(launch, tmp_path, request):
    path = tmp_path / "q.json"
    q = write_quotas(path, LIMIT)
    d = launch("--quotas-file", q, shards=2)
    put(d, "hist", "quick", QUICK)
    put(d, "roomy", "quick", QUICK)
    admitted = fill(d)
    assert admitted >= 1
    total = settled(d)
    assert total >= LIMIT, total
    assert_over(start(d, "hist"))
    # Another namespace keeps its own history and starts as before.
    assert all(start(d, "roomy")[0] == 201 for _ in range(3))
    assert rfclient.metric_sum(rfclient.scrape(d.port), "rf_quota_rejected_total",
                               limit="retained_history_bytes") >= 2
    wait_until(lambda: history_bytes(d, "roomy") > 0, 10.0, 0.2, "the other namespace's own total")

    # A crash loses no count: the total after a restart is the one before.
    kill9(d)
    d = relaunch(launch, d, "--quotas-file", q, shards=2)
    wait_until(lambda: history_bytes(d) == total, 10.0, 0.2, "the same total after the restart")
    assert_over(start(d, "hist"))

    # SIGHUP: a larger limit admits starts at once, the smaller one refuses them again.
    write_quotas(path, 100 * LIMIT)
    os.kill(d.pid, signal.SIGHUP)
    wait_until(lambda: start(d, "hist")[0] == 201, 10.0, 0.2, "a start under the raised limit")
    write_quotas(path, LIMIT)
    os.kill(d.pid, signal.SIGHUP)
    wait_until(lambda: start(d, "hist")[0] == 429, 10.0, 0.2, "the limit back in force")

    # Retention brings the namespace back under: starts are admitted again.
    if store_under_test() == "postgres":
        expire_on_postgres(request, d, "hist")
    else:
        term(d)
        d = relaunch(launch, d, "--quotas-file", q, "--retention", "2s", shards=2)
    wait_until(lambda: history_bytes(d) < LIMIT, 30.0, 0.2, "retention removed the history")
    assert start(d, "hist")[0] == 201


def test_event_triggers_are_held_by_the_history_quota(launch, tmp_path):
    q = write_quotas(tmp_path / "q.json", 1)  # one finished run is over it
    d = launch("--quotas-file", q, shards=1)
    put(d, "hist", "quick", {"steps": QUICK["steps"], "triggers": [{"event": "order.created"}]})
    st, doc = call(d, "POST", "/v1/namespaces/hist/events/order.created", {})
    assert st == 201 and len(doc["runs"]) == 1, (st, doc)
    wait_until(lambda: history_bytes(d) > 0, 15.0, 0.2, "the run in history")
    assert_over(call(d, "POST", "/v1/namespaces/hist/events/order.created", {}))
    put(d, "roomy", "quick", {"steps": QUICK["steps"], "triggers": [{"event": "order.created"}]})
    st, doc = call(d, "POST", "/v1/namespaces/roomy/events/order.created", {})
    assert st == 201 and len(doc["runs"]) == 1, (st, doc)


def test_schedules_are_held_by_the_history_quota(launch, tmp_path):
    from test_schedules import T0, Clock, fires

    path = tmp_path / "q.json"
    q = write_quotas(path, 1)  # one finished run is over it
    clock = Clock(tmp_path / "clock", T0)
    d = launch("--test-clock-file", clock.path, "--quotas-file", q, shards=1)
    put(d, "hist", "quick", QUICK)
    assert start(d, "hist")[0] == 201
    wait_until(lambda: history_bytes(d) > 0, 15.0, 0.2, "the run in history")
    st, doc = call(d, "PUT", "/v1/namespaces/hist/schedules/tick", {"workflow": "quick", "cron": "@every 60s"})
    assert st == 201, (st, doc)
    clock.advance(60_000)
    wait_until(lambda: fires(d, "limited") >= 1, 10.0, 0.1, "a fire refused by the history quota")
    assert rfclient.metric_sum(rfclient.scrape(d.port), "rf_quota_rejected_total",
                               limit="retained_history_bytes") >= 1
    runs = lambda: call(d, "GET", "/v1/namespaces/hist/runs?limit=100")[1]["runs"]  # noqa: E731
    assert len(runs()) == 1  # no scheduled run started
    write_quotas(path, 0)  # no limit
    os.kill(d.pid, signal.SIGHUP)
    wait_until(lambda: "quotas reloaded" in d.log_tail(200), 10.0, 0.1, "the reload")
    clock.advance(60_000)
    wait_until(lambda: len(runs()) >= 2, 15.0, 0.2, "the schedule starts runs again")


@pytest.mark.parametrize("value, needle", [
    ("-5", "/namespaces/a/retained_history_bytes: must be a number of bytes"),
    ("1.5", "/namespaces/a/retained_history_bytes: must be a number of bytes"),
    ('"12X"', "/namespaces/a/retained_history_bytes: must be a number of bytes"),
    ('"M"', "/namespaces/a/retained_history_bytes: must be a number of bytes"),
    ('"99999999T"', "/namespaces/a/retained_history_bytes: must be a number of bytes"),
    ("true", "/namespaces/a/retained_history_bytes: must be a number of bytes"),
])
def test_a_bad_history_limit_stops_the_start(rf_bin, tmp_path, value, needle):
    path = tmp_path / "q.json"
    path.write_text('{"namespaces": {"a": {"retained_history_bytes": %s}}}' % value)
    p = subprocess.run([str(rf_bin), "serve", "--listen", f"127.0.0.1:{rfclient.free_port()}",
                        "--data-dir", str(tmp_path / "data"), "--quotas-file", str(path)],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 2, (value, p.returncode, p.stderr[-2000:])
    assert needle in p.stderr, (value, p.stderr[-2000:])
