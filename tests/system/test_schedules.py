"""Schedules: PUT/GET/DELETE /v1/schedules/{name}, pause/resume, fires that start runs with the
Idempotency-Key schedule:<ns>/<name>@<unix seconds>, overlap and catch-up policies, daylight-saving
transitions, namespaces, bad input. Every daemon runs with --test-clock-file: the scheduler reads
its wall clock from a file the test writes, so no test waits for real minutes. Both stores (run
with RINGFLOW_TEST_STORE=postgres for PostgreSQL)."""

from __future__ import annotations

import calendar
import os
import time

import pytest

import rfclient
from engine_client import (ERR_INVALID_ARGUMENT, ERR_INVALID_JSON, assert_error, call, get_json,
                           kill9, must_put, relaunch, signal_run, wait_status, wait_until)

NOOP = {"steps": [{"id": "only", "type": "noop"}]}
# Stays live until its approval step is signalled: what the overlap policies look at.
HELD = {"steps": [{"id": "ok", "type": "approval", "timeout_ms": 3600000}]}
T0 = calendar.timegm((2026, 6, 1, 12, 0, 0)) * 1000  # a Monday, 12:00 UTC


class Clock:
    def __init__(self, path, ms: int):
        self.path = str(path)
        self.set(ms)

    def set(self, ms: int) -> None:
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(ms))
        os.replace(tmp, self.path)
        self.ms = ms

    def advance(self, ms: int) -> None:
        self.set(self.ms + ms)


@pytest.fixture
def clocked(launch, tmp_path):
    """(daemon, clock, start): a daemon whose scheduler reads `clock`; start() relaunches."""
    clock = Clock(tmp_path / "clock", T0)

    def start(*extra):
        return launch("--test-clock-file", clock.path, *extra)

    return start(), clock, start


def base(ns=None) -> str:
    return "/v1" if ns is None else f"/v1/namespaces/{ns}"


def put(d, name, body, ns=None):
    return call(d, "PUT", f"{base(ns)}/schedules/{name}", body)


def get(d, name, ns=None):
    return get_json(d, f"{base(ns)}/schedules/{name}")


def runs_of(d, workflow, ns=None) -> list[dict]:
    st, doc = get_json(d, f"{base(ns)}/runs?workflow={workflow}&limit=1000")
    assert st == 200, doc
    return doc["runs"]


def wait_runs(d, workflow, n, ns=None, timeout=10.0) -> list[dict]:
    wait_until(lambda: len(runs_of(d, workflow, ns)) >= n, timeout, what=f"{n} runs of {workflow}")
    return runs_of(d, workflow, ns)


def fires(d, outcome) -> float:
    text = get_json(d, "/metrics").resp.body.decode()
    return rfclient.metric_sum(rfclient.parse_metrics(text), "rf_schedule_fires_total", outcome=outcome)


def settle(d, clock) -> None:
    """Gives the scheduler time to act on the clock's value (it reads it every 100 ms): for the
    checks that nothing happened."""
    time.sleep(0.6)


def key_of(d, run_id) -> str:
    st, run = get_json(d, f"/v1/runs/{run_id}")
    assert st == 200, run
    return run["idempotency_key"]


# --------------------------------------------------------------------------
# Create, read, list, delete
# --------------------------------------------------------------------------


def test_create_get_list_delete(clocked):
    d, clock, _ = clocked
    must_put(d, "report", NOOP)
    body = {"workflow": "report", "cron": "0 9 * * MON-FRI", "timezone": "Europe/Berlin",
            "input": {"kind": "daily"}, "overlap": "queue", "catch_up": "all"}
    st, s = put(d, "daily-report", body)
    assert st == 201, s
    assert s["name"] == "daily-report" and s["namespace"] == "default" and s["workflow"] == "report"
    assert s["input"] == {"kind": "daily"} and s["overlap"] == "queue" and s["catch_up"] == "all"
    assert s["paused"] is False and s["last_fire"] is None and s["last_run"] is None
    # Next 5 fires: weekdays at 09:00 Berlin (CEST in June: 07:00 UTC), from Tuesday 2 June.
    nxt = s["next_fires"]
    assert [f["at"] for f in nxt] == ["2026-06-02T09:00:00+02:00", "2026-06-03T09:00:00+02:00",
                                      "2026-06-04T09:00:00+02:00", "2026-06-05T09:00:00+02:00",
                                      "2026-06-08T09:00:00+02:00"]
    assert nxt[0]["at_ms"] == calendar.timegm((2026, 6, 2, 7, 0, 0)) * 1000
    # The same again: 200, nothing changes.
    st, again = put(d, "daily-report", body)
    assert st == 200 and again["created_ms"] == s["created_ms"]
    st, got = get(d, "daily-report")
    assert st == 200 and got == again
    must_put(d, "other", NOOP)
    assert put(d, "a-first", {"workflow": "other", "cron": "@hourly"})[0] == 201
    st, listing = get_json(d, "/v1/schedules")
    assert st == 200 and listing["namespace"] == "default"
    assert [x["name"] for x in listing["schedules"]] == ["a-first", "daily-report"]
    st, doc = call(d, "DELETE", "/v1/schedules/daily-report")
    assert st == 200 and doc == {"name": "daily-report", "deleted": True}
    assert_error(get(d, "daily-report"), 404, "schedule_not_found")
    assert_error(call(d, "DELETE", "/v1/schedules/daily-report"), 404, "schedule_not_found")
    assert [x["name"] for x in get_json(d, "/v1/schedules")[1]["schedules"]] == ["a-first"]


def test_a_schedule_is_kept_across_a_crash(clocked, launch):
    d, clock, start = clocked
    must_put(d, "w", NOOP)
    assert put(d, "keep", {"workflow": "w", "cron": "*/5 * * * *", "paused": True})[0] == 201
    assert put(d, "changed", {"workflow": "w", "cron": "@daily"})[0] == 201
    assert put(d, "changed", {"workflow": "w", "cron": "@every 2h", "input": [1, 2]})[0] == 200
    kill9(d)
    d2 = relaunch(launch, d, "--test-clock-file", clock.path)
    st, s = get(d2, "keep")
    assert st == 200 and s["paused"] is True and s["cron"] == "*/5 * * * *"
    st, s = get(d2, "changed")
    assert st == 200 and s["cron"] == "@every 2h" and s["input"] == [1, 2]


# --------------------------------------------------------------------------
# Fires
# --------------------------------------------------------------------------


def test_a_fire_starts_a_run_with_the_derived_idempotency_key(clocked):
    d, clock, _ = clocked
    must_put(d, "w", NOOP)
    assert put(d, "tick", {"workflow": "w", "cron": "@every 60s", "input": {"from": "schedule"}})[0] == 201
    settle(d, clock)
    assert runs_of(d, "w") == []  # nothing before the first fire time
    clock.advance(60_000)
    runs = wait_runs(d, "w", 1)
    fire_s = (T0 + 60_000) // 1000
    assert key_of(d, runs[0]["id"]) == f"schedule:default/tick@{fire_s}"
    st, run = get_json(d, f"/v1/runs/{runs[0]['id']}")
    assert run["input"] == {"from": "schedule"}
    wait_until(lambda: get(d, "tick")[1]["last_run"] == runs[0]["id"], 5, what="last_run")
    s = get(d, "tick")[1]
    assert s["last_fire"]["at_ms"] == T0 + 60_000 and s["next_fires"][0]["at_ms"] == T0 + 120_000
    assert fires(d, "started") == 1
    # A start by hand with the same key meets the scheduled run.
    st, doc = call(d, "POST", "/v1/workflows/w/runs", {}, {"Idempotency-Key": f"schedule:default/tick@{fire_s}"})
    assert st == 200 and doc["id"] == runs[0]["id"]
    clock.advance(60_000)
    assert len(wait_runs(d, "w", 2)) == 2


def test_pause_and_resume(clocked):
    d, clock, _ = clocked
    must_put(d, "w", NOOP)
    assert put(d, "p", {"workflow": "w", "cron": "@every 60s"})[0] == 201
    st, s = call(d, "POST", "/v1/schedules/p/pause")
    assert st == 200 and s["paused"] is True
    clock.advance(180_000)
    settle(d, clock)
    assert runs_of(d, "w") == []
    st, s = call(d, "POST", "/v1/schedules/p/resume")
    assert st == 200 and s["paused"] is False
    settle(d, clock)
    assert runs_of(d, "w") == []  # what fell in the pause is not made up
    clock.advance(60_000)
    wait_runs(d, "w", 1)
    assert_error(call(d, "POST", "/v1/schedules/nope/pause"), 404, "schedule_not_found")


# --------------------------------------------------------------------------
# Overlap policies
# --------------------------------------------------------------------------


def overlap_setup(clocked, policy):
    d, clock, _ = clocked
    must_put(d, "held", HELD)
    assert put(d, "o", {"workflow": "held", "cron": "@every 60s", "overlap": policy})[0] == 201
    clock.advance(60_000)
    first = wait_runs(d, "held", 1)[0]["id"]
    wait_status(d, first, {"waiting"})
    wait_until(lambda: get(d, "o")[1]["last_run"] == first, 5, what="last_run")
    clock.advance(60_000)
    return d, clock, first


def test_overlap_skip(clocked):
    d, clock, first = overlap_setup(clocked, "skip")
    wait_until(lambda: fires(d, "skipped") >= 1, 5, what="a skipped fire")
    assert len(runs_of(d, "held")) == 1
    assert get(d, "o")[1]["last_fire"]["at_ms"] == T0 + 120_000


def test_overlap_queue_starts_the_fire_once_the_previous_run_ends(clocked):
    d, clock, first = overlap_setup(clocked, "queue")
    wait_until(lambda: fires(d, "queued") >= 1, 5, what="a queued fire")
    assert len(runs_of(d, "held")) == 1
    assert signal_run(d, first, "ok", {})[0] == 200
    runs = wait_runs(d, "held", 2)
    second = [r["id"] for r in runs if r["id"] != first][0]
    assert key_of(d, second) == f"schedule:default/o@{(T0 + 120_000) // 1000}"


def test_overlap_cancel_previous(clocked):
    d, clock, first = overlap_setup(clocked, "cancel_previous")
    wait_runs(d, "held", 2)
    wait_status(d, first, {"cancelled"})
    assert fires(d, "cancelled_previous") == 1


def test_overlap_allow(clocked):
    d, clock, first = overlap_setup(clocked, "allow")
    runs = wait_runs(d, "held", 2)
    for r in runs:
        wait_status(d, r["id"], {"waiting"})


# --------------------------------------------------------------------------
# Catch-up after a crash
# --------------------------------------------------------------------------


@pytest.mark.parametrize("policy,expected", [("none", 0), ("latest", 1), ("all", 5)])
def test_catch_up_after_kill9(clocked, launch, policy, expected):
    d, clock, _ = clocked
    must_put(d, "w", NOOP)
    body = {"workflow": "w", "cron": "@every 60s", "catch_up": policy, "overlap": "allow"}
    assert put(d, "c", body)[0] == 201
    clock.advance(60_000)
    wait_runs(d, "w", 1)
    wait_until(lambda: get(d, "c")[1]["last_fire"] is not None, 5, what="the cursor")
    time.sleep(0.5)  # the cursor's write is batched per loop turn
    kill9(d)
    clock.advance(5 * 60_000)  # five fires missed while down
    d2 = relaunch(launch, d, "--test-clock-file", clock.path)
    if expected:
        wait_runs(d2, "w", 1 + expected)
    settle(d2, clock)
    runs = runs_of(d2, "w")
    assert len(runs) == 1 + expected, runs
    keys = sorted(key_of(d2, r["id"]) for r in runs)
    assert len(set(keys)) == len(keys)  # never doubled
    s = get(d2, "c")[1]
    assert s["last_fire"]["at_ms"] == T0 + 6 * 60_000
    if policy != "all":
        assert fires(d2, "missed") == (5 if policy == "none" else 4)


def test_a_restart_does_not_fire_again(clocked, launch):
    d, clock, _ = clocked
    must_put(d, "w", NOOP)
    assert put(d, "r", {"workflow": "w", "cron": "@every 60s", "catch_up": "all", "overlap": "allow"})[0] == 201
    clock.advance(60_000)
    wait_runs(d, "w", 1)
    kill9(d)
    d2 = relaunch(launch, d, "--test-clock-file", clock.path)
    settle(d2, clock)
    assert len(runs_of(d2, "w")) == 1  # the fire is not doubled (by its cursor, or by its key)
    clock.advance(60_000)
    assert len(wait_runs(d2, "w", 2)) == 2


# --------------------------------------------------------------------------
# Daylight saving
# --------------------------------------------------------------------------


def utc_ms(*t) -> int:
    return calendar.timegm((*t, 0)[:6]) * 1000


def test_spring_forward_fires_a_skipped_time_once_after_the_gap(clocked):
    d, clock, _ = clocked
    clock.set(utc_ms(2026, 3, 8, 5, 0, 0))  # 00:00 EST in New York
    must_put(d, "w", NOOP)
    st, s = put(d, "dst", {"workflow": "w", "cron": "30 2 * * *", "timezone": "America/New_York"})
    assert st == 201
    # 02:30 does not exist on 8 March 2026: the fire is at the end of the gap, 03:00 EDT.
    assert s["next_fires"][0] == {"at": "2026-03-08T03:00:00-04:00", "at_ms": utc_ms(2026, 3, 8, 7, 0, 0)}
    assert s["next_fires"][1]["at"] == "2026-03-09T02:30:00-04:00"
    clock.set(utc_ms(2026, 3, 8, 7, 0, 0))
    runs = wait_runs(d, "w", 1)
    assert key_of(d, runs[0]["id"]) == f"schedule:default/dst@{utc_ms(2026, 3, 8, 7, 0, 0) // 1000}"
    clock.set(utc_ms(2026, 3, 8, 9, 0, 0))
    settle(d, clock)
    assert len(runs_of(d, "w")) == 1


def test_fall_back_fires_a_repeated_time_once(clocked):
    d, clock, _ = clocked
    clock.set(utc_ms(2026, 11, 1, 4, 0, 0))  # 00:00 EDT
    must_put(d, "w", NOOP)
    st, s = put(d, "dst", {"workflow": "w", "cron": "30 1 * * *", "timezone": "America/New_York",
                           "overlap": "allow"})
    assert st == 201
    assert [f["at"] for f in s["next_fires"][:2]] == ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"]
    clock.set(utc_ms(2026, 11, 1, 5, 30, 0))  # 01:30 EDT
    wait_runs(d, "w", 1)
    clock.set(utc_ms(2026, 11, 1, 6, 45, 0))  # past 01:30 EST, the repeat
    settle(d, clock)
    assert len(runs_of(d, "w")) == 1
    assert get(d, "dst")[1]["next_fires"][0]["at"] == "2026-11-02T01:30:00-05:00"


def test_berlin_zone_and_rfc3339(clocked):
    d, clock, _ = clocked
    clock.set(utc_ms(2026, 3, 28, 12, 0, 0))
    must_put(d, "w", NOOP)
    st, s = put(d, "b", {"workflow": "w", "cron": "30 2 * * *", "timezone": "Europe/Berlin"})
    assert st == 201
    assert [f["at"] for f in s["next_fires"][:2]] == ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"]


# --------------------------------------------------------------------------
# Namespaces
# --------------------------------------------------------------------------


def test_namespaces_are_isolated(clocked):
    d, clock, _ = clocked
    assert call(d, "PUT", "/v1/namespaces/team-a/workflows/w", NOOP)[0] == 201
    must_put(d, "w", NOOP)
    assert put(d, "s", {"workflow": "w", "cron": "@every 60s", "input": {"ns": "a"}}, ns="team-a")[0] == 201
    assert_error(get(d, "s"), 404, "schedule_not_found")
    assert_error(get(d, "s", ns="team-b"), 404, "schedule_not_found")
    assert get_json(d, "/v1/namespaces/team-b/schedules")[1]["schedules"] == []
    assert put(d, "s", {"workflow": "w", "cron": "@every 120s", "input": {"ns": "default"}})[0] == 201
    assert get(d, "s", ns="team-a")[1]["cron"] == "@every 60s"
    assert get(d, "s")[1]["cron"] == "@every 120s"
    # A workflow of another namespace cannot be scheduled.
    assert_error(put(d, "x", {"workflow": "only-in-a", "cron": "@hourly"}, ns="team-b"), 422,
                 "invalid_schedule", "/workflow")
    clock.advance(60_000)
    runs = wait_runs(d, "w", 1, ns="team-a")
    st, run = get_json(d, f"/v1/namespaces/team-a/runs/{runs[0]['id']}")
    assert run["idempotency_key"] == f"schedule:team-a/s@{(T0 + 60_000) // 1000}" and run["input"] == {"ns": "a"}
    assert runs_of(d, "w") == []  # the default namespace's schedule fires at 120 s
    assert_error(call(d, "DELETE", "/v1/namespaces/team-b/schedules/s"), 404, "schedule_not_found")


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------

GOOD = {"workflow": "w", "cron": "@hourly"}


@pytest.mark.parametrize("change,field", [
    ({"cron": "61 * * * *"}, "/cron"),
    ({"cron": "* * * *"}, "/cron"),
    ({"cron": "0 0 30 2 *"}, "/cron"),
    ({"cron": "@every 1500ms"}, "/cron"),
    ({"cron": 5}, "/cron"),
    ({"timezone": "Mars/Olympus_Mons"}, "/timezone"),
    ({"timezone": "../../etc/passwd"}, "/timezone"),
    ({"overlap": "sometimes"}, "/overlap"),
    ({"catch_up": "most"}, "/catch_up"),
    ({"paused": "yes"}, "/paused"),
    ({"version": 0}, "/version"),
    ({"version": 7}, "/version"),
    ({"workflow": "no-such"}, "/workflow"),
    ({"workflow": "bad/name"}, "/workflow"),
    ({"name": "other"}, "/name"),
    ({"colour": "blue"}, "/colour"),
])
def test_bad_schedules_are_422_with_a_pointer(clocked, change, field):
    d, clock, _ = clocked
    must_put(d, "w", NOOP)
    body = {**GOOD, **change}
    err = assert_error(put(d, "s", body), 422, "invalid_schedule", field)
    assert err["errors"] and err["errors"][0]["field"] == field
    assert_error(get(d, "s"), 404, "schedule_not_found")  # nothing was kept


@pytest.mark.parametrize("missing", ["workflow", "cron"])
def test_required_fields(clocked, missing):
    d, clock, _ = clocked
    must_put(d, "w", NOOP)
    body = {k: v for k, v in GOOD.items() if k != missing}
    assert_error(put(d, "s", body), 422, "invalid_schedule", "/" + missing)


def test_a_body_that_is_not_an_object_is_422(clocked):
    d, clock, _ = clocked
    assert_error(put(d, "s", [1, 2]), 422, "invalid_schedule", "")


def test_a_body_that_is_not_json_is_400(clocked):
    d, clock, _ = clocked
    assert_error(call(d, "PUT", "/v1/schedules/s", "{nope"), 400, ERR_INVALID_JSON)


def test_an_empty_body_is_400(clocked):
    d, clock, _ = clocked
    assert_error(call(d, "PUT", "/v1/schedules/s", None), 400, ERR_INVALID_JSON)


def test_an_input_nested_too_deep_is_400(clocked):
    d, clock, _ = clocked
    must_put(d, "w", NOOP)
    deep = 0
    for _ in range(70):
        deep = [deep]
    assert_error(put(d, "s", {**GOOD, "input": deep}), 400, "nesting_too_deep", "/input")


def test_a_bad_schedule_name_is_400(clocked):
    d, clock, _ = clocked
    assert_error(put(d, "bad%20name", GOOD), 400, ERR_INVALID_ARGUMENT)


def test_an_unknown_query_parameter_is_400(clocked):
    d, clock, _ = clocked
    assert_error(get_json(d, "/v1/schedules?x=1"), 400, ERR_INVALID_ARGUMENT)


def test_pause_with_a_body_is_400(clocked):
    d, clock, _ = clocked
    must_put(d, "w", NOOP)
    assert put(d, "s", GOOD)[0] == 201
    assert_error(call(d, "POST", "/v1/schedules/s/pause", {"now": True}), 400, ERR_INVALID_ARGUMENT)


def test_a_body_of_another_type_is_415(clocked):
    d, clock, _ = clocked
    assert_error(call(d, "PUT", "/v1/schedules/s", "x", content_type="text/plain"), 415,
                 "unsupported_media_type")


def test_metrics_families(clocked):
    d, clock, _ = clocked
    text = get_json(d, "/metrics").resp.body.decode()
    for family in ("rf_schedules", "rf_schedule_fires_total", "rf_schedule_lateness_seconds"):
        assert f"# TYPE {family} " in text, family


# --------------------------------------------------------------------------
# Quotas
# --------------------------------------------------------------------------


def test_the_namespace_live_runs_quota_holds_a_fire_until_a_run_ends(launch, tmp_path):
    quotas = tmp_path / "quotas.json"
    quotas.write_text('{"namespaces": {"q": {"live_runs": 1}}}')
    clock = Clock(tmp_path / "clock", T0)
    d = launch("--test-clock-file", clock.path, "--quotas-file", str(quotas))
    assert call(d, "PUT", "/v1/namespaces/q/workflows/held", HELD)[0] == 201
    assert put(d, "o", {"workflow": "held", "cron": "@every 60s", "overlap": "allow"}, ns="q")[0] == 201
    clock.advance(60_000)
    first = wait_runs(d, "held", 1, ns="q")[0]["id"]
    clock.advance(60_000)
    wait_until(lambda: fires(d, "limited") >= 1, 5, what="a fire refused by the live-runs quota")
    assert len(runs_of(d, "held", ns="q")) == 1
    st, _ = call(d, "POST", f"/v1/namespaces/q/runs/{first}/signals/ok", {})
    assert st == 200
    runs = wait_runs(d, "held", 2, ns="q")
    second = [r["id"] for r in runs if r["id"] != first][0]
    st, run = get_json(d, f"/v1/namespaces/q/runs/{second}")
    assert run["idempotency_key"] == f"schedule:q/o@{(T0 + 120_000) // 1000}"


# --------------------------------------------------------------------------
# Two daemons on one database: the holder of the partition fires, once
# --------------------------------------------------------------------------


def test_in_a_cluster_only_the_holder_fires_and_a_takeover_goes_on(launch, pg, tmp_path):
    from test_pg_store import fresh_db, launch_pg

    def started(d) -> float:
        return rfclient.metric_sum(rfclient.scrape(d.port), "rf_schedule_fires_total", outcome="started")

    _, url = fresh_db(pg)
    clock = Clock(tmp_path / "clock", T0)
    d1 = launch_pg(launch, url, "--migrate", "true", "--test-clock-file", clock.path)
    d2 = launch_pg(launch, url, "--standby", "true", "--test-clock-file", clock.path)
    must_put(d1, "w", NOOP)
    wait_until(lambda: get_json(d2, "/v1/workflows/w")[0] == 200, 10, 0.1, "d2 knows the workflow")
    # Made on the daemon that holds nothing: it is kept in the database, fired by the holder.
    assert put(d2, "tick", {"workflow": "w", "cron": "@every 60s", "overlap": "allow"})[0] == 201
    wait_until(lambda: get(d1, "tick")[0] == 200, 10, 0.1, "d1 loads the schedule made on d2")
    clock.advance(60_000)
    wait_until(lambda: started(d1) == 1, 10, 0.1, "d1 fires")
    time.sleep(3)  # d2 reads the table again (every 2 s): it sees the fire's cursor
    assert started(d2) == 0
    assert len(runs_of(d1, "w")) == 1
    kill9(d1)
    wait_until(lambda: rfclient.metric_sum(rfclient.scrape(d2.port), "rf_partitions_held") == 256, 20, 0.2,
               "d2 takes every partition over")
    clock.advance(60_000)
    wait_until(lambda: started(d2) >= 1, 10, 0.1, "d2 fires after the takeover")
    time.sleep(0.5)
    runs = runs_of(d2, "w")
    keys = sorted(key_of(d2, r["id"]) for r in runs)
    assert keys == [f"schedule:default/tick@{(T0 + 60_000) // 1000}", f"schedule:default/tick@{(T0 + 120_000) // 1000}"]
