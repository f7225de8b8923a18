"""Schedule fires of a workflow with a concurrency key (issue 14): a fire's run is created where an
API start of the same input goes, the partition of (workflow, key value), so it is counted, queued
and released with the key's API runs, also when that partition is on another shard than the
schedule's. Daemons run with --shards 2 (the launcher's default) and --test-clock-file.

Which shard a schedule or a key lands on is a hash: each test uses several (schedule, key) pairs,
so some cross shards (checked against the binary before this change: the fires of the crossing
pairs were started at once, over the limit). Both stores (RINGFLOW_TEST_STORE=postgres)."""

from __future__ import annotations

import time

import pytest

import rfclient
from engine_client import call, get_json, get_run, kill9, must_put, relaunch, signal_run, wait_status, wait_until
from test_schedules import T0, clocked, fires, get, put, runs_of  # noqa: F401 (clocked: a fixture)

# Limit 1 per customer; a run stays live until its approval step is signalled.
FC = {"concurrency": {"key": "{{input.customer}}", "limit": 1},
      "steps": [{"id": "ok", "type": "approval", "timeout_ms": 3600000}]}
# 12: in a cluster a (schedule, key) pair crosses daemons about half the time (which half of the
# partitions each holds depends on the instance ids), and the cluster tests need some that do.
KEYS = [f"cust-{i}" for i in range(12)]


def _api_runs(d) -> dict[str, str]:
    """One API run per key, live (waiting for its approval): key -> run id."""
    out = {}
    for k in KEYS:
        st, doc = call(d, "POST", "/v1/workflows/fc/runs", {"input": {"customer": k}})
        assert st == 201, (st, doc)
        out[k] = doc["id"]
    for rid in out.values():
        wait_status(d, rid, {"waiting"})
    return out


def _schedules(d, overlap: str) -> None:
    for i, k in enumerate(KEYS):
        body = {"workflow": "fc", "cron": "@every 60s", "input": {"customer": k}, "overlap": overlap}
        st, doc = put(d, f"s{i}", body)
        assert st == 201, (st, doc)


def _fired(d, exclude=()) -> dict[str, str]:
    """key -> the run each schedule's latest fire made (its last_run), once every schedule has one
    other than those in `exclude`."""
    def last_runs():
        return {k: get(d, f"s{i}")[1]["last_run"] for i, k in enumerate(KEYS)}

    wait_until(lambda: all(r and r not in exclude for r in last_runs().values()), 10,
               what="every schedule's fire")
    return last_runs()


def _status(d, rid: str) -> str:
    st, doc = get_run(d, rid)
    assert st == 200, (st, doc)
    return doc["status"]


def _view(d) -> dict[str, list[dict]]:
    st, doc = get_json(d, "/v1/workflows/fc/concurrency")
    assert st == 200, doc
    out: dict[str, list[dict]] = {}
    for k in doc["keys"]:
        out.setdefault(k["key"], []).append(k)
    return out


def _approve(d, rid: str) -> None:
    st, doc = signal_run(d, rid, "ok", {})
    assert st == 200, (st, doc)


def _all_queued(d, fired: dict[str, str]) -> None:
    wait_until(lambda: all(_status(d, fired[k]) == "queued" for k in KEYS), 10,
               what="every fired run queued")


def _setup(clocked, overlap="allow"):
    d, clock, start = clocked
    must_put(d, "fc", FC)
    api = _api_runs(d)
    _schedules(d, overlap)
    clock.advance(60_000)
    fired = _fired(d)
    return d, clock, start, api, fired


def test_a_fire_is_queued_behind_the_api_runs_of_its_key_and_starts_when_they_end(clocked):
    d, clock, _, api, fired = _setup(clocked)
    # Every fire waits behind its key's API run, wherever the schedule lives.
    _all_queued(d, fired)
    view = _view(d)
    for k in KEYS:
        assert len(view[k]) == 1, view[k]  # counted in one place, with the API's run
        assert view[k][0]["live"] == 1 and view[k][0]["queued"] == 1, view[k]
    st, run = get_run(d, fired[KEYS[0]])
    assert run["idempotency_key"] == f"schedule:default/s0@{(T0 + 60_000) // 1000}"
    for k in KEYS:
        _approve(d, api[k])
    for k in KEYS:
        wait_status(d, api[k], {"succeeded"})
        wait_status(d, fired[k], {"waiting"})  # dequeued: its step started
    for k in KEYS:
        _approve(d, fired[k])
        wait_status(d, fired[k], {"succeeded"})
    assert fires(d, "started") == len(KEYS)


def test_a_queued_fired_run_survives_kill9_and_is_not_fired_again(clocked, launch):
    d, clock, _, api, fired = _setup(clocked)
    _all_queued(d, fired)
    time.sleep(0.5)  # the cursors' write is batched per loop turn
    kill9(d)
    d2 = relaunch(launch, d, "--test-clock-file", clock.path)
    time.sleep(0.6)  # the scheduler looks at the clock again
    assert len(runs_of(d2, "fc")) == 2 * len(KEYS)  # no fire doubled
    for k in KEYS:
        assert _status(d2, fired[k]) == "queued"
        assert _status(d2, api[k]) == "waiting"
    for k in KEYS:
        _approve(d2, api[k])
    for k in KEYS:
        wait_status(d2, fired[k], {"waiting"})
        _approve(d2, fired[k])
        wait_status(d2, fired[k], {"succeeded"})


def test_overlap_skip_counts_a_queued_run_as_live(clocked):
    d, clock, _, api, fired = _setup(clocked, "skip")
    _all_queued(d, fired)
    clock.advance(60_000)
    wait_until(lambda: fires(d, "skipped") >= len(KEYS), 10, what="the second fires skipped")
    assert len(runs_of(d, "fc")) == 2 * len(KEYS)
    for i, k in enumerate(KEYS):
        s = get(d, f"s{i}")[1]
        assert s["last_run"] == fired[k] and s["last_fire"]["at_ms"] == T0 + 120_000


def test_overlap_cancel_previous_cancels_the_queued_run_on_its_shard(clocked):
    d, clock, _, api, fired = _setup(clocked, "cancel_previous")
    _all_queued(d, fired)
    clock.advance(60_000)
    second = _fired(d, exclude=set(fired.values()))
    for k in KEYS:
        wait_status(d, fired[k], {"cancelled"})
        wait_status(d, second[k], {"queued"})  # behind the API run still
    assert fires(d, "cancelled_previous") == len(KEYS)
    for k in KEYS:
        _approve(d, api[k])
    for k in KEYS:
        wait_status(d, second[k], {"waiting"})


def test_overlap_queue_waits_for_the_queued_run(clocked):
    d, clock, _, api, fired = _setup(clocked, "queue")
    _all_queued(d, fired)
    clock.advance(60_000)
    wait_until(lambda: fires(d, "queued") >= len(KEYS), 10, what="the second fires wait")
    assert len(runs_of(d, "fc")) == 2 * len(KEYS)
    k = KEYS[0]
    _approve(d, api[k])
    wait_status(d, fired[k], {"waiting"})
    _approve(d, fired[k])
    wait_status(d, fired[k], {"succeeded"})
    wait_until(lambda: get(d, "s0")[1]["last_run"] != fired[k], 10, what="the queued fire")
    second = get(d, "s0")[1]["last_run"]
    wait_status(d, second, {"waiting"})  # the key is free now


# --------------------------------------------------------------------------
# Two daemons on one PostgreSQL database, sharing the partitions: a fire whose key's partition the
# other daemon holds is forwarded to it (as the API's start is)
# --------------------------------------------------------------------------


def _cluster(launch, pg, tmp_path, versions, admin_key=None, d2_secret=True):
    """Two daemons on one fresh database sharing the partitions, both on one test clock, with the
    workflow fc put in each of `versions` (definitions) in turn: (d1, d2, clock). `admin_key`:
    both run with --auth on and it as their bootstrap admin key. Not `d2_secret`: the cluster's
    secret is deleted after d1 read it, so d2 has none (as a daemon of an older version)."""
    from test_pg_spread import shared_by
    from test_pg_store import fresh_db, launch_pg
    from test_schedules import Clock

    db, url = fresh_db(pg)
    clock = Clock(tmp_path / "clock", T0)
    auth = ("--auth", "on") if admin_key else ()
    env = {"RINGFLOW_ADMIN_KEY": admin_key} if admin_key else None
    d1 = launch_pg(launch, url, "--migrate", "true", "--test-clock-file", clock.path, *auth, env=env)
    if not d2_secret:
        pg.psql("DELETE FROM cluster_secret;", db=db)
    d2 = launch_pg(launch, url, "--test-clock-file", clock.path, *auth, env=env)
    wait_until(lambda: shared_by(d1, d2), 20.0, 0.1, "d1 and d2 share the partitions")
    headers = {"Authorization": f"Bearer {admin_key}"} if admin_key else None
    for v in versions:
        st, doc = call(d1, "PUT", "/v1/workflows/fc", v, headers=headers)
        assert st == 201, (st, doc)
    wait_until(lambda: call(d2, "GET", "/v1/workflows/fc", headers=headers)[0] == 200, 10, 0.1,
               "d2 knows the workflow")
    return d1, d2, clock


def _both_loaded(d1, d2) -> None:
    for i in range(len(KEYS)):
        wait_until(lambda: get(d1, f"s{i}")[0] == 200 and get(d2, f"s{i}")[0] == 200, 10, 0.1,
                   "both daemons load the schedules")


def _last_run(d1, d2, i: int) -> str:
    return get(d1, f"s{i}")[1]["last_run"] or get(d2, f"s{i}")[1]["last_run"]


def test_in_a_cluster_a_fire_goes_to_the_daemon_holding_its_key(launch, pg, tmp_path):
    d1, d2, clock = _cluster(launch, pg, tmp_path, [FC])
    api = _api_runs(d1)  # each started by (or forwarded to) its key's holder
    _schedules(d1, "allow")
    _both_loaded(d1, d2)
    before = rfclient_forwarded(d1) + rfclient_forwarded(d2)
    clock.advance(60_000)
    wait_until(lambda: all(_last_run(d1, d2, i) for i in range(len(KEYS))), 15, 0.1,
               "every schedule fired")
    fired = {k: _last_run(d1, d2, i) for i, k in enumerate(KEYS)}
    assert rfclient_forwarded(d1) + rfclient_forwarded(d2) > before  # some fires crossed daemons
    # Queued behind the key's API run on the daemon holding the key, whichever daemon fired.
    wait_until(lambda: all(_status(d1, fired[k]) == "queued" for k in KEYS), 10,
               what="every fired run queued")
    for k in KEYS:
        _approve(d1, api[k])
    for k in KEYS:
        wait_status(d1, fired[k], {"waiting"})
        _approve(d1, fired[k])
        wait_status(d1, fired[k], {"succeeded"})
    assert len(runs_of(d1, "fc")) == 2 * len(KEYS)


def test_in_a_cluster_cancel_previous_cancels_the_previous_fire_where_it_lives(launch, pg, tmp_path):
    """The previous fire's run lives where its key's partition is, maybe on the other daemon: the
    schedule's daemon looks at it and cancels it there (through the forwarding when it is)."""
    d1, d2, clock = _cluster(launch, pg, tmp_path, [FC])
    api = _api_runs(d1)
    _schedules(d1, "cancel_previous")
    _both_loaded(d1, d2)
    clock.advance(60_000)
    wait_until(lambda: all(_last_run(d1, d2, i) for i in range(len(KEYS))), 15, 0.1, "every schedule fired")
    first = {k: _last_run(d1, d2, i) for i, k in enumerate(KEYS)}
    wait_until(lambda: all(_status(d1, first[k]) == "queued" for k in KEYS), 10, what="every first fire queued")
    before = rfclient_forwarded(d1) + rfclient_forwarded(d2)
    clock.advance(60_000)
    wait_until(lambda: all(_last_run(d1, d2, i) not in (None, first[k]) for i, k in enumerate(KEYS)), 15, 0.1,
               "every schedule fired again")
    second = {k: _last_run(d1, d2, i) for i, k in enumerate(KEYS)}
    for k in KEYS:
        wait_status(d1, first[k], {"cancelled"})
        wait_status(d1, second[k], {"queued"})  # behind the API run still
    assert rfclient_forwarded(d1) + rfclient_forwarded(d2) > before  # some crossed daemons
    assert sum(fires(d, "cancelled_previous") for d in (d1, d2)) == len(KEYS)
    for k in KEYS:
        _approve(d1, api[k])
    for k in KEYS:
        wait_status(d1, second[k], {"waiting"})


def rfclient_forwarded(d) -> float:
    return rfclient.metric_sum(rfclient.scrape(d.port), "rf_forward_requests_total", outcome="ok")


def test_in_a_cluster_a_pinned_older_version_fires_on_its_keys_holder(launch, pg, tmp_path):
    """A fire pinned to an older version is forwarded with that version (the start's "version")
    to the daemon holding its key, and waits there behind the key's API run like any fire (before
    the API took a version, it ran on the schedule's own partition, counted apart)."""
    v2 = dict(FC, steps=[{"id": "ok", "type": "approval", "timeout_ms": 3500000}])
    d1, d2, clock = _cluster(launch, pg, tmp_path, [FC, v2])
    api = _api_runs(d1)  # version 2, live: each key's one slot taken
    for i, k in enumerate(KEYS):
        body = {"workflow": "fc", "version": 1, "cron": "@every 60s", "input": {"customer": k}}
        st, doc = put(d1, f"s{i}", body)
        assert st == 201, (st, doc)
    _both_loaded(d1, d2)
    before = rfclient_forwarded(d1) + rfclient_forwarded(d2)
    clock.advance(60_000)
    wait_until(lambda: all(_last_run(d1, d2, i) for i in range(len(KEYS))), 15, 0.1,
               "every schedule fired")
    for i, k in enumerate(KEYS):
        rid = _last_run(d1, d2, i)
        assert rid != api[k]
        doc = wait_status(d1, rid, {"queued"})
        assert doc["version"] == 1, doc
    assert rfclient_forwarded(d1) + rfclient_forwarded(d2) > before  # some went to the other daemon


# --------------------------------------------------------------------------
# The same cluster with --auth on. A fire has no caller, so its forward carries no credential: it
# is signed with the cluster's secret instead (auth/peer_signature.h, migration 0014), which the
# key's holder checks. A holder that cannot check it (no secret: a daemon of an older version)
# answers 401, and the fire runs on the schedule's own partition (scheduler_route.cc, the
# fallback), counted apart from the key's runs.
# --------------------------------------------------------------------------


def _as_admin(d, method: str, path: str, body=None):
    from test_auth import ADMIN, api

    resp, doc = api(d, method, path, ADMIN, body)
    return resp.status, doc


def _refusals(d) -> float:
    """Requests this daemon refused for want of a credential (401, no Authorization)."""
    return rfclient.metric_sum(rfclient.scrape(d.port), "rf_auth_failures_total", reason="missing")


def _keys_held(d) -> dict[str, dict]:
    """The concurrency keys of fc on the partitions `d` holds (it answers only for those):
    key -> {"live", "queued"}, summed over its shards."""
    st, doc = _as_admin(d, "GET", "/v1/workflows/fc/concurrency")
    assert st == 200, (st, doc)
    out: dict[str, dict] = {}
    for k in doc["keys"]:
        c = out.setdefault(k["key"], {"live": 0, "queued": 0})
        c["live"] += k["live"]
        c["queued"] += k["queued"]
    return out


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "holder_without_secret"])
def test_in_a_cluster_with_auth_a_fire_goes_to_its_keys_holder_signed_or_else_once_to_its_own(
        launch, pg, tmp_path, signed):
    """signed: a fire whose key's partition the other daemon holds is forwarded signed with the
    cluster's secret, and the holder takes it: queued behind the key's API run like any fire.
    holder_without_secret: d2 has no secret (an older daemon), so the forwards between d1 and d2
    are refused (401) and each such fire starts once, on the schedule's own partition: not queued
    behind the key's API run (counted apart from it, on the schedule's daemon), not lost (without
    the fallback it is retried every second, `unavailable`, and never starts), not doubled."""
    from test_auth import ADMIN

    d1, d2, clock = _cluster(launch, pg, tmp_path, [FC], admin_key=ADMIN, d2_secret=signed)
    keys = KEYS  # some pairs cross daemons (3 to 7 of 12 did in 11 runs; of 6, none in 1 run of 5)
    ds = (d1, d2)
    assert call(d1, "GET", "/v1/workflows/fc").status == 401  # the daemons do check credentials
    api = {}
    for k in keys:  # each started by (or forwarded, with the caller's credential, to) its key's holder
        st, doc = _as_admin(d1, "POST", "/v1/workflows/fc/runs", {"input": {"customer": k}})
        assert st == 201, (st, doc)
        api[k] = doc["id"]

    def status(rid: str) -> str:
        st, doc = _as_admin(d1, "GET", f"/v1/runs/{rid}")
        assert st == 200, (st, doc)
        return doc["status"]

    wait_until(lambda: all(status(r) == "waiting" for r in api.values()), 10, 0.1, "the API runs live")
    holder = {}  # key -> the daemon holding its partition
    for d in ds:
        for k in _keys_held(d):
            holder[k] = d
    assert set(holder) == set(keys), holder
    for i, k in enumerate(keys):
        body = {"workflow": "fc", "cron": "@every 60s", "input": {"customer": k}, "overlap": "allow"}
        st, doc = _as_admin(d1, "PUT", f"/v1/schedules/s{i}", body)
        assert st == 201, (st, doc)
    for i in range(len(keys)):
        wait_until(lambda: all(_as_admin(d, "GET", f"/v1/schedules/s{i}")[0] == 200 for d in ds), 10, 0.1,
                   "both daemons load the schedules")
    refused0 = {d.port: _refusals(d) for d in ds}
    started0 = sum(fires(d, "started") for d in ds)
    forwarded0 = sum(rfclient_forwarded(d) for d in ds)

    clock.advance(60_000)

    def last_run(i: int) -> str | None:
        return next((r for r in (_as_admin(d, "GET", f"/v1/schedules/s{i}")[1]["last_run"] for d in ds) if r),
                    None)

    wait_until(lambda: all(last_run(i) for i in range(len(keys))), 15, 0.1, "every schedule fired")
    fired = {k: last_run(i) for i, k in enumerate(keys)}
    for i, k in enumerate(keys):
        st, run = _as_admin(d1, "GET", f"/v1/runs/{fired[k]}")
        assert st == 200, (st, run)
        assert fired[k] != api[k] and run["input"] == {"customer": k}, run
        assert run["idempotency_key"] == f"schedule:default/s{i}@{(T0 + 60_000) // 1000}", run
    # A fire on its key's partition waits behind the key's API run; one that fell back does not.
    wait_until(lambda: all(status(fired[k]) in ("queued", "waiting") for k in keys), 10, 0.1,
               "every fired run settled")
    fell_back = [k for k in keys if status(fired[k]) == "waiting"]
    if signed:  # every fire where its key's API runs are, some of them sent across (signed)
        assert not fell_back, fell_back
        assert sum(rfclient_forwarded(d) for d in ds) > forwarded0
    else:
        assert fell_back, "no fire fell back to its schedule's partition"  # some pair crosses daemons
    for k in fell_back:  # counted on the other daemon, the one the schedule lives on
        other = d2 if holder[k] is d1 else d1
        assert _keys_held(other).get(k) == {"live": 1, "queued": 0}, (k, _keys_held(other))
        assert _keys_held(holder[k])[k] == {"live": 1, "queued": 0}, (k, _keys_held(holder[k]))
    for k in set(keys) - set(fell_back):
        assert _keys_held(holder[k])[k] == {"live": 1, "queued": 1}, (k, _keys_held(holder[k]))
    # The key's holder refused each fire that fell back, once; each fire started once.
    for d in ds:
        assert _refusals(d) - refused0[d.port] == sum(holder[k] is d for k in fell_back), d.port
    assert sum(fires(d, "started") for d in ds) - started0 == len(keys)
    time.sleep(1.2)  # a fire retried (a second later) would show by now
    live = {d.port: [r["id"] for r in _as_admin(d, "GET", "/v1/runs?workflow=fc&limit=1000")[1]["runs"]]
            for d in ds}  # each daemon lists the live runs of the partitions it holds
    assert sorted(live[d1.port] + live[d2.port]) == sorted([*api.values(), *fired.values()]), live
    for k in keys:
        where = holder[k] if k not in fell_back else (d2 if holder[k] is d1 else d1)
        assert fired[k] in live[where.port], (k, live)
    assert sum(fires(d, "started") for d in ds) - started0 == len(keys)
    # And they finish: the fallen-back fires by themselves, the others once the API runs end.
    for k in fell_back:
        assert _as_admin(d1, "POST", f"/v1/runs/{fired[k]}/signals/ok", {})[0] == 200
    for k in keys:
        assert _as_admin(d1, "POST", f"/v1/runs/{api[k]}/signals/ok", {})[0] == 200
    wait_until(lambda: all(k in fell_back or status(fired[k]) == "waiting" for k in keys), 10, 0.1,
               "the queued fires start")
    for k in set(keys) - set(fell_back):
        assert _as_admin(d1, "POST", f"/v1/runs/{fired[k]}/signals/ok", {})[0] == 200
    wait_until(lambda: all(status(r) == "succeeded" for r in [*api.values(), *fired.values()]), 10, 0.1,
               "every run succeeded")
    st, doc = _as_admin(d1, "GET", "/v1/runs?workflow=fc&limit=1000")  # finished: from the shared history
    assert st == 200 and len(doc["runs"]) == 2 * len(keys), (st, doc)
