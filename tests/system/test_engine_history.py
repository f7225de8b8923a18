"""Finished runs leave memory for the history store and are served from there.

A daemon with the smallest --history-cache finishes a few hundred runs, so nearly all of
them are moved to history and evicted from memory (checked in /metrics). Then, before and
after a kill -9 and restart:
- GET of every run answers exactly what the run's own finishing answer said;
- the run listing pages through all of them, newest first, without repeats, and the
  dead-letter listing finds the failed one (also by workflow);
- SSE of an evicted run replays its whole history and ends;
- a repeated start with the key of an evicted run answers 200 with that run;
- a retry brings the failed run back from history, and it finishes.
Retention removes history in the background (a short --retention instead of days), and
`ringflow archive` exports finished runs as gzip'd JSON lines beside a running daemon.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import urllib.request

import pytest

from conftest import store_under_test
from engine_client import (chain, data_dir, get_run, kill9, list_all_runs, must_put,
                           must_start, relaunch, retry_run, sse_events, start, term, wait_status,
                           wait_until)

N = 150


def _metric(d, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{d.port}/metrics", timeout=5.0) as r:
        text = r.read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"metric {name} not found")


def _inline_reads(d) -> dict[str, float]:
    """rf_history_inline_reads_total by outcome (embedded store only)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{d.port}/metrics", timeout=5.0) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("rf_history_inline_reads_total{"):
            out[line.split('outcome="')[1].split('"')[0]] = float(line.split()[-1])
    return out


def _store_args(d) -> list[str]:
    """The daemon's --store/--database-url, for `ringflow archive` on the same store."""
    out = []
    for i, a in enumerate(d.args[:-1]):
        if a in ("--store", "--database-url"):
            out += [a, d.args[i + 1]]
    return out


def _fill(d, flaky):
    must_put(d, "hist", chain("a", "b", "c"))
    must_put(d, "hist-bad", {"steps": [{"id": "call", "type": "http", "retry": {"max_attempts": 1},
                                        "request": {"method": "POST", "url": flaky.url("/bad")}}]})
    flaky.script("/bad", [500])
    runs = {}
    for i in range(N):
        doc = must_start(d, "hist", input={"i": i, "text": "x" * (i % 7)}, key=f"k-{i}", wait="5s")
        assert doc["status"] == "succeeded", doc
        runs[doc["id"]] = doc
    bad = must_start(d, "hist-bad", input={}, wait="5s")
    assert bad["status"] == "failed", bad
    runs[bad["id"]] = bad
    return runs, bad["id"]


def _check_served(d, runs: dict, bad_id: str):
    for rid, doc in runs.items():
        st, got = get_run(d, rid)
        assert st == 200, (rid, st, got)
        assert got == doc, f"{rid} changed:\n{got}\n{doc}"
    listed = list_all_runs(d, page=37)
    ids = [r["id"] for r in listed]
    assert len(ids) == len(set(ids)), "a run listed twice"
    assert set(ids) == set(runs), "listing differs from the runs started"
    assert ids == sorted(ids, reverse=True), "not newest first"
    assert [r["id"] for r in list_all_runs(d, workflow="hist-bad")] == [bad_id]
    dead = list_all_runs(d, path="/v1/dead-letter", page=10)
    assert [r["id"] for r in dead] == [bad_id]
    assert dead[0]["step"] == "call"
    failed = list_all_runs(d, status="failed", workflow="hist")
    assert failed == []
    some = sorted(runs)[3]
    res = sse_events(d, f"/v1/runs/{some}/events", timeout=5.0)
    types = [f.event for f in res.events() if f.kind == "event"]
    assert types[0] == "run.created" and types[-1] == "run.succeeded", types
    assert len(types) == 8, types
    st, again = start(d, "hist", input={"i": -1}, key="k-5")
    assert st == 200, (st, again)
    assert again == runs[again["id"]] and again["idempotency_key"] == "k-5"


def test_finished_runs_are_served_from_history_across_a_crash(launch, flaky):
    d = launch("--history-cache", "0", "--shards", "2")
    runs, bad_id = _fill(d, flaky)
    # The cache holds a fraction of them: the rest left memory.
    wait_until(lambda: _metric(d, "rf_history_evicted_total") >= N // 2, 10.0,
               what="finished runs evicted from memory")
    assert _metric(d, "rf_runs_retained") < N // 2
    _check_served(d, runs, bad_id)
    assert _metric(d, "rf_history_loads_total") > 0
    if store_under_test() == "embedded":
        # What RocksDB holds in memory: the runs just written are in its memtables, and the
        # block cache's bound is its share of --history-cache (none: 1 MiB) plus the memtables'.
        assert _metric(d, 'rf_history_memory_bytes{part="memtables"}') > 0
        assert _metric(d, 'rf_history_memory_bytes{part="cache_capacity"}') == 33 << 20
        assert _metric(d, 'rf_history_background_jobs{job="compaction"}') >= 0

    kill9(d)
    d = relaunch(launch, d, "--history-cache", "0", "--shards", "2")
    _check_served(d, runs, bad_id)
    if store_under_test() == "embedded":
        # Every read of an evicted run tried RocksDB's memory on the shard first. After a crash
        # RocksDB replays its WAL into memtables, so these may all be found there.
        inline = _inline_reads(d)
        assert inline.get("hit", 0) + inline.get("fallback", 0) >= len(runs), inline
    # A clean stop flushes RocksDB's memtables: after it the block cache is cold. The table
    # files were written a moment ago and sit in the page cache, which the shards read without
    # waiting (RWF_NOWAIT); where the file system cannot, the first reads go to the helpers.
    term(d)
    d = relaunch(launch, d, "--history-cache", "0", "--shards", "2")
    _check_served(d, runs, bad_id)
    if store_under_test() == "embedded":
        inline = _inline_reads(d)
        assert inline.get("hit", 0) + inline.get("fallback", 0) >= len(runs), inline
        if '"inline_reads":"memory and page cache"' in d.log_text():
            assert inline.get("hit", 0) > inline.get("fallback", 0), inline
        else:
            assert '"inline_reads":"memory only"' in d.log_text()
            assert inline.get("fallback", 0) > 0, inline

    # A retry brings the failed run back from history; the upstream recovered.
    flaky.script("/bad", [200])
    st, doc = retry_run(d, bad_id)
    assert st == 200, (st, doc)
    done = wait_status(d, bad_id, "succeeded")
    assert len(done["steps"][0]["attempts"]) == 2
    wait_until(lambda: list_all_runs(d, path="/v1/dead-letter") == [], 10.0, what="dead-letter empty")
    kill9(d)
    d = relaunch(launch, d, "--history-cache", "0", "--shards", "2")
    st, got = get_run(d, bad_id)
    assert st == 200 and got == done


def _evicted(d):
    wait_until(lambda: _metric(d, "rf_history_evicted_total") >= N // 2, 10.0,
               what="finished runs evicted from memory")


def test_any_shard_reads_history_for_a_get_with_history_read_age_0(launch, flaky):
    """A GET lands on any shard (SO_REUSEPORT, a fresh connection each): on one that does not own
    the run it reads a succeeded run from history itself, on PostgreSQL too with
    --history-read-age 0. Failed and live runs still answer as their owner says."""
    d = launch("--history-cache", "0", "--shards", "2", "--history-read-age", "0s")
    runs, bad_id = _fill(d, flaky)
    _evicted(d)
    _check_served(d, runs, bad_id)
    # 151 GETs on two shards: about half reach a shard that is not the run's owner.
    assert _metric(d, "rf_history_gets_here_total") > 0
    must_put(d, "slow", {"steps": [{"id": "pause", "type": "delay", "ms": 600000}]})
    live = wait_status(d, must_start(d, "slow", input={})["id"], "waiting")
    for _ in range(20):
        st, got = get_run(d, live["id"])
        assert st == 200 and got == live, (st, got)
    kill9(d)
    d = relaunch(launch, d, "--history-cache", "0", "--shards", "2", "--history-read-age", "0s")
    for rid, doc in {**runs, live["id"]: live}.items():
        st, got = get_run(d, rid)
        assert st == 200 and got == doc, (rid, st, got)
    assert _metric(d, "rf_history_gets_here_total") > 0


def test_young_runs_are_read_by_their_owner_on_postgres(launch, flaky):
    """With the default --history-read-age (60s) a GET of a run younger than that asks the run's
    owner on PostgreSQL (a query on another shard would be wasted on a live run); the embedded
    store reads its own disk on any shard."""
    d = launch("--history-cache", "0", "--shards", "2")
    runs, bad_id = _fill(d, flaky)
    _evicted(d)
    _check_served(d, runs, bad_id)
    here = _metric(d, "rf_history_gets_here_total")
    if store_under_test() == "postgres":
        assert here == 0
    else:
        assert here > 0


def test_retention_removes_history_and_archive_exports_it_first(launch, rf_bin, tmp_path, flaky):
    d = launch("--history-cache", "0", "--retention", "2s")
    must_put(d, "old", chain("a"))
    ids = [must_start(d, "old", input={"i": i}, key=f"o-{i}", wait="5s")["id"] for i in range(40)]
    wait_until(lambda: _metric(d, "rf_history_moved_total") >= 40, 10.0, what="runs moved")
    # Archive beside the running daemon: every finished run, its records included.
    out = tmp_path / "archive.jsonl.gz"
    p = subprocess.run([rf_bin, "archive", "--data-dir", data_dir(d), "--before", "0s",
                        "--out", str(out)] + _store_args(d), capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    lines = [json.loads(line) for line in gzip.open(out, "rt")]
    assert sorted(r["id"] for r in lines) == sorted(ids)
    for r in lines:
        assert r["workflow"] == "old" and r["status"] == "succeeded"
        assert [rec["t"] for rec in r["records"]][0] == 1  # starts with the creation
        assert r["records"][0]["run"] == r["id"]
    if "postgres" in _store_args(d):
        # PostgreSQL retention drops whole days of runs (tested with injected time in the
        # store.pg_history unit tests): today's runs outlive a 2 s retention.
        return
    # Retention: gone from memory, listings, keys and GET, without a restart.
    wait_until(lambda: list_all_runs(d, workflow="old") == [], 15.0, what="retention")
    assert _metric(d, "rf_history_expired_total") >= 40 or _metric(d, "rf_runs_removed_total") > 0
    for rid in ids[:5]:
        st, _ = get_run(d, rid)
        assert st == 404
    st, doc = start(d, "old", input={}, key="o-3", wait="5s")
    assert st == 201, "the key was released with the run"


@pytest.mark.parametrize("args,err", [
    (["--before", "soon"], "before"),
    (["--out", ""], "out"),
])
def test_archive_rejects_bad_arguments(rf_bin, tmp_path, args, err):
    p = subprocess.run([rf_bin, "archive", "--data-dir", str(tmp_path)] + args,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert err in p.stderr


def test_archive_without_a_history_store_says_so(rf_bin, tmp_path):
    p = subprocess.run([rf_bin, "archive", "--data-dir", str(tmp_path / "none")],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1
    assert "no history store" in p.stderr
