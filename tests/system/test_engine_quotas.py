"""Quotas and rate limits per namespace (--quotas-file, README "Quotas"): requests a second
and run starts a second (token buckets per shard, each shard an even part of the rate), live
runs per namespace (counted across shards, also after a restart). Over a limit: 429 with
Retry-After and the one error shape; counted in /metrics. SIGHUP reloads the file; a file
that does not parse stops the start (exit 2) or, on reload, keeps the limits in force.
Both stores (the system-pg suite runs this file on PostgreSQL)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import rfclient
from engine_client import assert_error, call, get_json, kill9, relaunch, wait_until

APPROVAL = {"steps": [{"id": "gate", "type": "approval"}]}
QUICK = {"steps": [{"id": "only", "type": "noop"}]}


def write_quotas(path, doc) -> str:
    path.write_text(json.dumps(doc))
    return str(path)


def put(d, ns, name, definition):
    st, doc = call(d, "PUT", f"/v1/namespaces/{ns}/workflows/{name}", definition)
    assert st in (200, 201), (st, doc)


def start(d, ns, name):
    return call(d, "POST", f"/v1/namespaces/{ns}/workflows/{name}/runs", {})


def assert_429(reply, code):
    body = assert_error(reply, 429, code)
    retry = reply.resp.header("retry-after")
    assert retry is not None and int(retry) >= 1, reply.resp
    return body


def test_requests_per_second_per_namespace_then_recovers(launch, tmp_path):
    q = write_quotas(tmp_path / "q.json", {"namespaces": {"tight": {"requests_per_second": 2}}})
    d = launch("--quotas-file", q, shards=1)
    statuses = [get_json(d, "/v1/namespaces/tight/workflows")[0] for _ in range(6)]
    assert statuses[:2] == [200, 200] and statuses.count(429) >= 3, statuses
    reply = get_json(d, "/v1/namespaces/tight/workflows")
    body = assert_429(reply, "rate_limited")
    assert "tight" in body["message"]
    # Other namespaces, and the operational routes, are not limited.
    assert all(get_json(d, "/v1/workflows")[0] == 200 for _ in range(20))
    assert all(rfclient.get(d.port, "/health").status == 200 for _ in range(10))
    time.sleep(1.1)  # the bucket refills at 2 a second
    assert get_json(d, "/v1/namespaces/tight/workflows")[0] == 200
    assert rfclient.metric_sum(rfclient.scrape(d.port), "rf_quota_rejected_total",
                               limit="requests_per_second") >= 4


def test_rate_is_split_over_shards(launch, tmp_path):
    q = write_quotas(tmp_path / "q.json", {"default": {"requests_per_second": 4}})
    d = launch("--quotas-file", q, shards=2)
    # New connections spread over both shards; together they admit at most the burst (2 a
    # shard) plus what refills while this runs (4 a second in all) — on a loaded machine the
    # 40 requests can take a while, so the bound is computed from the time they took.
    t0 = time.monotonic()
    ok = sum(get_json(d, "/v1/namespaces/any/runs")[0] == 200 for _ in range(40))
    elapsed = time.monotonic() - t0
    assert 2 <= ok <= 4 + int(4 * elapsed) + 1, (ok, elapsed)
    assert ok < 40  # the limit held


def test_starts_per_second(launch, tmp_path):
    q = write_quotas(tmp_path / "q.json", {"namespaces": {"s": {"starts_per_second": 1}}})
    d = launch("--quotas-file", q, shards=1)
    put(d, "s", "quick", QUICK)
    assert start(d, "s", "quick")[0] == 201
    assert_429(start(d, "s", "quick"), "rate_limited")
    assert get_json(d, "/v1/namespaces/s/runs")[0] == 200  # reads are not starts
    put(d, "other", "quick", QUICK)
    assert all(start(d, "other", "quick")[0] == 201 for _ in range(5))


def test_live_runs_quota_counts_across_shards_and_restarts(launch, tmp_path):
    q = write_quotas(tmp_path / "q.json", {"namespaces": {"live": {"live_runs": 2}}})
    d = launch("--quotas-file", q, shards=2)
    put(d, "live", "gate", APPROVAL)
    put(d, "live", "quick", QUICK)
    ids = []
    for key in ("k1", "k2"):  # keys land the runs on partitions of either shard
        st, run = call(d, "POST", "/v1/namespaces/live/workflows/gate/runs", {}, {"Idempotency-Key": key})
        assert st == 201, run
        ids.append(run["id"])
    body = assert_429(start(d, "live", "gate"), "quota_exceeded")
    assert "live runs" in body["message"]
    # The same Idempotency-Key again meets its run: not a new one, so not refused.
    st, again = call(d, "POST", "/v1/namespaces/live/workflows/gate/runs", {}, {"Idempotency-Key": "k1"})
    assert st == 200 and again["id"] == ids[0]
    put(d, "free", "gate", APPROVAL)
    assert start(d, "free", "gate")[0] == 201  # another namespace has its own count

    kill9(d)
    d = relaunch(launch, d, "--quotas-file", q, shards=2)
    assert_429(start(d, "live", "gate"), "quota_exceeded")  # the replayed runs still count
    text = rfclient.scrape(d.port)
    assert rfclient.metric_sum(text, "rf_namespace_live_runs", namespace="live") == 2
    assert rfclient.metric_sum(text, "rf_quota_rejected_total", limit="live_runs") >= 1

    st, _ = call(d, "POST", f"/v1/namespaces/live/runs/{ids[0]}/signals/gate", {})
    assert st == 200
    wait_until(lambda: start(d, "live", "quick")[0] == 201, 10.0, 0.1, "room for one more run")


def test_sighup_reloads_and_a_bad_file_keeps_the_limits(launch, tmp_path):
    path = tmp_path / "q.json"
    q = write_quotas(path, {"namespaces": {"r": {"starts_per_second": 1, "burst_seconds": 1}}})
    d = launch("--quotas-file", q, shards=1)
    put(d, "r", "quick", QUICK)
    assert start(d, "r", "quick")[0] == 201
    assert start(d, "r", "quick")[0] == 429
    path.write_text("{not json")
    os.kill(d.pid, signal.SIGHUP)
    wait_until(lambda: "cannot reload the quotas" in d.log_tail(200), 10.0, 0.1, "the reload error")
    assert start(d, "r", "quick")[0] == 429
    write_quotas(path, {"namespaces": {"r": {"starts_per_second": 1000}}})
    os.kill(d.pid, signal.SIGHUP)
    wait_until(lambda: "quotas reloaded" in d.log_tail(200), 10.0, 0.1, "the reload")
    replies = [start(d, "r", "quick") for _ in range(5)]
    assert all(r[0] == 201 for r in replies), [(r[0], r[1]) for r in replies]


def test_a_bad_quotas_file_stops_the_start(rf_bin, tmp_path):
    cases = [("missing.json", None, "cannot use --quotas-file"),
             ("bad.json", "[1]", "must be an object"),
             ("field.json", json.dumps({"default": {"live_runs": -1}}), "/default/live_runs")]
    for name, text, needle in cases:
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        p = subprocess.run([str(rf_bin), "serve", "--listen", f"127.0.0.1:{rfclient.free_port()}",
                            "--data-dir", str(tmp_path / "data"), "--quotas-file", str(path)],
                           capture_output=True, text=True, timeout=20)
        assert p.returncode == 2, (name, p.returncode, p.stderr[-2000:])
        assert needle in p.stderr, (name, p.stderr[-2000:])
