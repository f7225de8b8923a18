"""The PostgreSQL store's own surfaces, against the real binary and the session's private
cluster (the `pg` fixture): schema migrations and the start-up check, the steps and attempts
views, the outbox relay and SSE history read from the events table, durable timers loaded
from the timeouts table, and the pool metrics. Runs in the plain system suite: every daemon
here is started with --store postgres on a database of its own."""

from __future__ import annotations

import itertools
import subprocess
import time
from pathlib import Path

import pytest

import rfclient
from engine_client import (SseStream, check_event_frames, get_run, must_put, now_ms, relaunch,
                           signal_run, sse_events, start, step, term, wait_step_status, wait_terminal,
                           wait_until)
from test_engine_runs import FAST_RETRY, http_step

_db_counter = itertools.count(1)


def fresh_db(pg) -> tuple[str, str]:
    name = f"rf_store_{next(_db_counter)}_{int(time.time() * 1000) % 10**8}"
    pg.psql(f"CREATE DATABASE {name};")
    return name, pg.url.rsplit("/", 1)[0] + "/" + name


def ringflow(rf_bin, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(rf_bin), *args], capture_output=True, text=True, timeout=60)


def launch_pg(launch, url: str, *extra: str, **kw):
    return launch("--store", "postgres", "--database-url", url, *extra, **kw)


# The migrations this source tree has (src/store/postgres/migrations/NNNN_name.sql).
_MIGRATIONS = Path(__file__).resolve().parents[2] / "src/store/postgres/migrations"
_FILES = sorted(_MIGRATIONS.glob("[0-9]*.sql"))
KNOWN = int(_FILES[-1].name[:4])  # the highest version (numbers may skip one another branch took)


def test_migrate_status_up_and_the_schema_check(rf_bin, pg, launch):
    db, url = fresh_db(pg)
    st = ringflow(rf_bin, "migrate", "status", "--database-url", url)
    assert st.returncode == 3, st  # pending migrations
    assert "1 init  pending" in st.stdout and "2 outbox_steps  pending" in st.stdout, st.stdout
    assert f"schema version 0 of {KNOWN}" in st.stdout, st.stdout

    # serve refuses an unmigrated database, saying what to do.
    d = launch_pg(launch, url, ready=False)
    assert d.wait(20) == 1, d.log_tail()
    assert "ringflow migrate up" in d.log_text(), d.log_tail()

    up = ringflow(rf_bin, "migrate", "up", "--database-url", url)
    assert up.returncode == 0, up
    assert f"schema version {KNOWN} of {KNOWN}" in up.stdout, up.stdout
    again = ringflow(rf_bin, "migrate", "--database-url", url)  # `up` is the default; idempotent
    assert again.returncode == 0 and f"schema version {KNOWN} of {KNOWN}" in again.stdout, again
    st = ringflow(rf_bin, "migrate", "status", "--database-url", url)
    assert st.returncode == 0 and st.stdout.count("applied") == len(_FILES), st

    d = launch_pg(launch, url)  # migrated: it starts
    assert rfclient.get(d.port, "/health/ready").status == 200
    term(d)

    # A schema newer than the binary: serve and migrate both refuse.
    pg.psql("INSERT INTO schema_migrations (version, name) VALUES (99, 'future');", db=db)
    d = launch_pg(launch, url, "--migrate", "true", ready=False)
    assert d.wait(20) == 1, d.log_tail()
    assert "newer than this ringflow knows" in d.log_text(), d.log_tail()
    up = ringflow(rf_bin, "migrate", "up", "--database-url", url)
    assert up.returncode == 1 and "upgrade ringflow" in up.stderr, up


def test_bad_database_urls_are_refused(rf_bin):
    st = ringflow(rf_bin, "migrate", "status", "--database-url", "postgresql://nobody@127.0.0.1:1/x")
    assert st.returncode == 1 and st.stderr.startswith("ringflow migrate: "), st
    st = ringflow(rf_bin, "migrate", "status", "--database-url", "not a url at all ===")
    assert st.returncode == 1 and "ringflow migrate: " in st.stderr, st
    st = ringflow(rf_bin, "migrate", "sideways", "--database-url", "postgresql://x@127.0.0.1/x")
    assert st.returncode != 0 and "migrate takes up or status" in st.stderr, st


def test_steps_and_attempts_views(launch, pg, flaky):
    db, url = fresh_db(pg)
    d = launch_pg(launch, url, "--migrate", "true")
    flaky.script("/pay", [503, 200])
    must_put(d, "pay", {"steps": [
        {"id": "prep", "type": "noop"},
        http_step("charge", flaky.url("/pay"), depends_on=["prep"],
                  retry=dict(FAST_RETRY, max_attempts=3)),
        {"id": "skip", "type": "noop", "depends_on": ["charge"], "when": "input.never == true"}]})
    st, run = start(d, "pay", input={"never": False})
    assert st == 201, run
    done = wait_terminal(d, run["id"], 20)
    assert done["status"] == "succeeded", done
    rid = run["id"]

    rows = pg.psql(f"SELECT step_id, status, attempts FROM steps WHERE run_id = '{rid}' "
                   "ORDER BY step_index;", db=db).split()
    assert rows == ["prep|succeeded|1", "charge|succeeded|2", "skip|skipped|0"], rows
    attempts = pg.psql(
        f"SELECT attempt, outcome, error IS NOT NULL, retry_at IS NOT NULL, output IS NOT NULL,"
        f" finished_at >= started_at FROM step_attempts WHERE run_id = '{rid}' AND step_id = 'charge'"
        " ORDER BY attempt;", db=db).split()
    assert attempts == ["1|failed|t|t|f|t", "2|succeeded|f|f|t|t"], attempts
    # The views agree with the API.
    api = step(done, "charge")["attempts"]
    assert len(api) == 2 and api[0]["error"], api


def test_outbox_is_relayed_and_sse_history_comes_from_it(launch, pg):
    db, url = fresh_db(pg)
    d = launch_pg(launch, url, "--migrate", "true")
    must_put(d, "w2", {"steps": [{"id": "a", "type": "noop"},
                                 {"id": "b", "type": "noop", "depends_on": ["a"]}]})
    ids = [start(d, "w2", wait="10s").json["id"] for _ in range(20)]
    wait_until(lambda: pg.psql("SELECT count(*) FROM outbox;", db=db).strip() == "0",
               timeout=10.0, what="the relay to drain the outbox")
    assert int(pg.psql("SELECT count(DISTINCT run_id) FROM events;", db=db)) == 20

    # History of a finished run: every event from the table, then the end.
    full = check_event_frames(sse_events(d, f"/v1/runs/{ids[0]}/events", timeout=5.0), ids[0])
    assert [e["type"] for e in full] == ["run.created", "step.started", "step.succeeded",
                                         "step.started", "step.succeeded", "run.succeeded"], full
    stored = int(pg.psql(f"SELECT max(last_seq) FROM events WHERE run_id = '{ids[1]}';", db=db))
    assert stored == len(full)
    # ... read from the database, not from memory: without them a run has no history.
    pg.psql(f"UPDATE run_records SET ev_seq = NULL, ev_last = NULL, events = NULL"
            f" WHERE run_id = '{ids[1]}';", db=db)
    with SseStream(d, f"/v1/runs/{ids[1]}/events") as s:
        assert s.status == 200
        assert [f for f in s.read_for(1.0) if f.kind == "event"] == []

    # Live: a waiting run's stream gets the rest once the relay delivers it.
    must_put(d, "gate", {"steps": [{"id": "ok", "type": "approval"}]})
    rid = start(d, "gate").json["id"]
    wait_step_status(d, rid, "ok", "waiting")
    with SseStream(d, f"/v1/runs/{rid}/events") as s:
        assert s.read_until(lambda f: f.event == "run.waiting", 5.0), s.frames
        assert signal_run(d, rid, "ok")[0] == 200
        assert s.read_to_end(10.0), s.frames
        types = [e["type"] for e in check_event_frames(s.frames, rid)]
    assert types[-1] == "run.succeeded" and types.count("run.created") == 1, types


def test_timers_come_back_from_the_timeouts_table(launch, pg):
    db, url = fresh_db(pg)
    d1 = launch_pg(launch, url, "--migrate", "true")
    must_put(d1, "nap", {"steps": [{"id": "z", "type": "delay", "ms": 2500},
                                   {"id": "after", "type": "noop", "depends_on": ["z"]}]})
    rid = start(d1, "nap").json["id"]
    run = wait_step_status(d1, rid, "z", "waiting")
    due = step(run, "z")["due_ms"]
    row = pg.psql(f"SELECT step_index, (extract(epoch FROM expire_at) * 1000)::bigint, completed "
                  f"FROM timeouts WHERE run_id = '{rid}';", db=db).strip()
    assert row == f"0|{due}|f", row
    part = pg.psql(f"SELECT partition FROM runs WHERE run_id = '{rid}';", db=db).strip()
    assert pg.psql("SELECT run_id, partition FROM live_runs;", db=db).split() == [f"{rid}|{part}"]
    term(d1)
    d2 = relaunch(launch, d1, "--store", "postgres", "--database-url", url)
    assert any(r.get("msg") == "durable timers loaded" and r.get("timers") == 1
               for r in d2.log_records()), d2.log_tail()
    if now_ms() < due - 300:
        st, back = get_run(d2, rid)
        assert st == 200 and back["status"] == "waiting", back
    done = wait_terminal(d2, rid, 15)
    assert done["status"] == "succeeded", done
    assert due <= done["finished_ms"] <= due + 1500, (due, done)
    # Completed in the transaction of the transition it caused.
    assert pg.psql(f"SELECT completed FROM timeouts WHERE run_id = '{rid}';", db=db).strip() == "t"
    assert pg.psql("SELECT count(*) FROM live_runs;", db=db).strip() == "0"  # finished: gone


def test_migration_15_lists_the_live_runs_and_its_triggers_keep_the_list(rf_bin, pg):
    """A database at schema 14 is migrated to 15: live_runs gets the runs that are not
    finished, and from then on the triggers on runs keep it, whoever writes: an insert, an
    upsert's update and a delete through runs, in one statement each as the group commit
    does."""
    db, url = fresh_db(pg)
    older = [f for f in _FILES if int(f.name[:4]) <= 14]
    rows = ", ".join(f"({int(f.name[:4])}, '{f.name[5:-4]}')" for f in older)
    pg.psql("BEGIN;\n" + "\n".join(f.read_text() for f in older) + "\n"
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now());\n"
            f"INSERT INTO schema_migrations (version, name) VALUES {rows};\nCOMMIT;", db=db)
    h = f"{now_ms():012x}"
    ids = {s: f"{h[:8]}-{h[8:]}-7{i:03x}-8452-e560b2834d{i:02x}" for i, s in enumerate(
        ("queued", "pending", "running", "waiting", "succeeded", "failed", "cancelled"))}

    def row(rid: str, status: str) -> str:
        done = "now()" if status in ("succeeded", "failed", "cancelled") else "NULL"
        return (f"('{rid}', get_byte(uuid_send('{rid}'::uuid), 7), 'w', 1, '{status}', now(), "
                f"now(), {done}, 1)")

    pg.psql("INSERT INTO runs (run_id, partition, workflow, version, status, created_at, "
            "updated_at, finished_at, epoch) VALUES " +
            ", ".join(row(rid, s) for s, rid in ids.items()) + ";", db=db)
    up = ringflow(rf_bin, "migrate", "up", "--database-url", url)
    assert up.returncode == 0 and f"schema version {KNOWN} of {KNOWN}" in up.stdout, up

    def live() -> list[str]:
        return sorted(pg.psql("SELECT run_id FROM live_runs;", db=db).split())

    assert live() == sorted(ids[s] for s in ("queued", "pending", "running", "waiting")), live()
    part = pg.psql(f"SELECT partition FROM live_runs WHERE run_id = '{ids['queued']}';",
                   db=db).strip()
    assert part == str(int(ids["queued"][16:18], 16)), part  # byte 7 of the id
    # The upsert of the group commit: one run finishes, a finished one is retried, a new one.
    h2 = f"{now_ms() + 1:012x}"
    new = f"{h2[:8]}-{h2[8:]}-7100-8452-e560b2834dff"
    pg.psql("INSERT INTO runs (run_id, partition, workflow, version, status, created_at, "
            "updated_at, finished_at, epoch) VALUES " +
            ", ".join([row(ids["waiting"], "succeeded"), row(ids["failed"], "pending"),
                       row(new, "pending")]) +
            " ON CONFLICT (run_id) DO UPDATE SET status = excluded.status, "
            "finished_at = excluded.finished_at;", db=db)
    assert live() == sorted([ids["queued"], ids["pending"], ids["running"], ids["failed"], new])
    pg.psql(f"UPDATE runs SET status = 'running' WHERE run_id = '{ids['pending']}';", db=db)
    pg.psql(f"DELETE FROM runs WHERE run_id IN ('{ids['queued']}', '{ids['succeeded']}');", db=db)
    assert live() == sorted([ids["pending"], ids["running"], ids["failed"], new]), live()
    # The daemon's sessions list runs themselves (detail::UpsertRuns): the triggers skip them.
    h3 = f"{now_ms() + 2:012x}"
    own = f"{h3[:8]}-{h3[8:]}-7100-8452-e560b2834dfe"
    pg.psql("SET rf.live_runs_kept = on; INSERT INTO runs (run_id, partition, workflow, version, "
            "status, created_at, updated_at, finished_at, epoch) VALUES " + row(own, "pending") +
            "; DELETE FROM runs WHERE run_id = '" + ids["running"] + "';", db=db)
    assert live() == sorted([ids["pending"], ids["running"], ids["failed"], new]), live()
    # Rows of days without partitions wait in DEFAULT, and move when their day's partitions
    # are made (a delete, then an insert): in any session, a live run stays listed.
    for days, session in ((6, ""), (9, "SET rf.live_runs_kept = on; ")):
        at = now_ms() + days * 86_400_000
        ha = f"{at:012x}"
        later = f"{ha[:8]}-{ha[8:]}-7100-8452-e560b2834d{days:02x}"
        pg.psql("INSERT INTO runs (run_id, partition, workflow, version, status, created_at, "
                "updated_at, finished_at, epoch) VALUES " + row(later, "waiting") + ";", db=db)
        day = time.strftime("%Y-%m-%d", time.gmtime(at / 1000))
        assert pg.psql(f"SELECT tableoid::regclass FROM runs WHERE run_id = '{later}';",
                       db=db).strip() == "runs_default"
        pg.psql(f"{session}SELECT rf_ensure_partitions('{day}', '{day}');", db=db)
        assert pg.psql(f"SELECT tableoid::regclass FROM runs WHERE run_id = '{later}';",
                       db=db).strip() == "runs_p" + day.replace("-", "")
        assert later in live(), (session, live())


def metric_values(d):
    return {name: value for name, labels, value in rfclient.scrape(d.port) if not labels}


def test_pool_and_commit_metrics(launch, pg):
    _, url = fresh_db(pg)
    d = launch_pg(launch, url, "--migrate", "true", "--pg-pool", "3", "--pg-read-pool", "1")
    # Before any run was committed the gauges already count the pools' connections (they were
    # set only after a run's commit, and read 0 on a daemon that had none yet).
    gauges = metric_values(d)
    assert gauges["rf_store_connections_up"] == 6, gauges.get("rf_store_connections_up")
    assert gauges["rf_store_read_connections_up"] == 2, gauges.get("rf_store_read_connections_up")
    must_put(d, "one", {"steps": [{"id": "a", "type": "noop"}]})
    # Each start is a new connection, and the kernel spreads connections over both shards:
    # 40 of them reach both (all on one shard: 2^-39).
    for _ in range(40):
        assert start(d, "one", wait="5s").status == 201  # created and finished within the wait
    # Listings read finished runs from the database, on the shard's read pool (not the commits').
    assert rfclient.get(d.port, "/v1/runs?workflow=one&limit=5").status == 200
    values = metric_values(d)
    assert values["rf_store_connections_up"] == 6, values.get("rf_store_connections_up")  # 2 shards x 3
    assert values["rf_store_read_connections_up"] == 2, values.get("rf_store_read_connections_up")
    assert values["rf_store_read_pool_acquired_total"] >= 1
    assert values["rf_store_read_pool_connect_failures_total"] == 0
    assert values["rf_store_pool_connects_total"] >= 6
    assert values["rf_store_pool_acquired_total"] >= 5
    assert values["rf_store_pool_connect_failures_total"] == 0
    assert values["rf_store_commits_total"] >= 5
    assert values["rf_store_commit_seconds_count"] >= 5


def test_migration_2_carries_the_event_history_over(rf_bin, pg, launch):
    """A database at schema 1 (events in their own table) is migrated to 2: each events row
    moves to the run_records row of its run and commit, and SSE serves it as before."""
    sql = Path(__file__).resolve().parents[2] / "src/store/postgres/migrations/0001_init.sql"
    db1, url1 = fresh_db(pg)
    pg.psql(f"BEGIN;\n{sql.read_text()}\n"
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now());"
            "INSERT INTO schema_migrations (version, name) VALUES (1, 'init');\nCOMMIT;", db=db1)
    rid = "018bd021-adb0-7000-8452-e560b2834d0f"  # byte 7 (the partition) is 0
    source = '{"steps":[{"id":"a","type":"noop"}]}'
    t1 = now_ms() - 60_000  # within the default retention
    t2 = t1 + 5
    rec = [
        f'{{"t":1,"run":"{rid}","at":{t1},"wf":"old","ver":1,"prio":"default","data":{{"n":1}}}}',
        f'{{"t":2,"run":"{rid}","at":{t1},"step":0,"sid":"a"}}',
        f'{{"t":3,"run":"{rid}","at":{t2},"step":0,"sid":"a","data":null}}',
        f'{{"t":7,"run":"{rid}","at":{t2},"st":"succeeded","data":{{"a":null}}}}',
    ]
    ev1 = (f'[{{"seq":1,"type":"run.created","run":"{rid}","at_ms":{t1}}},'
           f'{{"seq":2,"type":"step.started","run":"{rid}","at_ms":{t1},"step":"a"}}]')
    ev2 = (f'[{{"seq":3,"type":"step.succeeded","run":"{rid}","at_ms":{t2},"step":"a",'
           f'"data":{{"output":null}}}},'
           f'{{"seq":4,"type":"run.succeeded","run":"{rid}","at_ms":{t2},"data":{{"output":{{"a":null}}}}}}]')
    q = lambda s: s.replace("'", "''")  # noqa: E731
    pg.psql(f"""
        INSERT INTO workflows (name, latest) VALUES ('old', 1);
        INSERT INTO workflow_versions (name, version, source) VALUES ('old', 1, '{q(source)}');
        INSERT INTO runs (run_id, partition, workflow, version, status, input, output, created_at,
                          updated_at, finished_at, epoch, last_seq)
          VALUES ('{rid}', 0, 'old', 1, 'succeeded', '{{"n":1}}', '{{"a":null}}',
                  to_timestamp({t1} / 1000.0), to_timestamp({t2} / 1000.0),
                  to_timestamp({t2} / 1000.0), 1, 4);
        INSERT INTO run_records VALUES
          ('{rid}', 1, 2, '{q(rec[0] + chr(10) + rec[1])}', to_timestamp({t1} / 1000.0)),
          ('{rid}', 3, 4, '{q(rec[2] + chr(10) + rec[3])}', to_timestamp({t2} / 1000.0));
        INSERT INTO events (run_id, seq, last_seq, workflow, data, created_at) VALUES
          ('{rid}', 1, 2, 'old', '{q(ev1)}', to_timestamp({t1} / 1000.0)),
          ('{rid}', 3, 4, 'old', '{q(ev2)}', to_timestamp({t2} / 1000.0));
    """, db=db1)
    up = ringflow(rf_bin, "migrate", "up", "--database-url", url1)
    assert up.returncode == 0 and f"schema version {KNOWN} of {KNOWN}" in up.stdout, up
    rows = pg.psql(f"SELECT seq, last_seq FROM events WHERE run_id = '{rid}' ORDER BY seq;",
                   db=db1).split()
    assert rows == ["1|2", "3|4"], rows
    d = launch_pg(launch, url1)
    frames = check_event_frames(sse_events(d, f"/v1/runs/{rid}/events", timeout=5.0), rid)
    assert [(e["seq"], e["type"]) for e in frames] == [
        (1, "run.created"), (2, "step.started"), (3, "step.succeeded"), (4, "run.succeeded")], frames
    st, run = get_run(d, rid)
    assert st == 200 and run["status"] == "succeeded", run


def test_migration_3_partitions_history_by_day(rf_bin, pg, launch):
    """A database at schema 2 is migrated to 3: runs, run_records and timeouts become
    partitioned by the UTC day of the run id, and every row lands in its day's partition (the
    migration makes one for each day that has runs); the events and steps views read the new
    tables; the daemon serves the run as before, and on start makes the partitions of the
    days ahead that are missing. It loads only unfinished runs."""
    mig = Path(__file__).resolve().parents[2] / "src/store/postgres/migrations"
    db, url = fresh_db(pg)
    pg.psql("BEGIN;\n" + (mig / "0001_init.sql").read_text() + "\n" +
            (mig / "0002_outbox_steps.sql").read_text() + "\n"
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now());"
            "INSERT INTO schema_migrations (version, name) VALUES (1, 'init'), (2, 'outbox_steps');"
            "\nCOMMIT;", db=db)
    made = now_ms() - 3 * 86_400_000  # created three days ago (its id says so) ...
    h = f"{made:012x}"
    rid = f"{h[:8]}-{h[8:]}-7000-8452-e560b2834d0f"  # byte 7 (the partition) is 0
    day = time.strftime("%Y%m%d", time.gmtime(made / 1000))
    t1 = now_ms() - 60_000  # ... and finished a minute ago (within retention)
    t2 = t1 + 5
    source = '{"steps":[{"id":"a","type":"noop"}]}'
    rec = [
        f'{{"t":1,"run":"{rid}","at":{t1},"wf":"old","ver":1,"prio":"default","data":{{"n":1}}}}',
        f'{{"t":2,"run":"{rid}","at":{t1},"step":0,"sid":"a"}}',
        f'{{"t":3,"run":"{rid}","at":{t2},"step":0,"sid":"a","data":null}}',
        f'{{"t":7,"run":"{rid}","at":{t2},"st":"succeeded","data":{{"a":null}}}}',
    ]
    ev1 = (f'[{{"seq":1,"type":"run.created","at_ms":{t1}}},'
           f'{{"seq":2,"type":"step.started","at_ms":{t1},"step":"a"}}]')
    ev2 = (f'[{{"seq":3,"type":"step.succeeded","at_ms":{t2},"step":"a","data":{{"output":null}}}},'
           f'{{"seq":4,"type":"run.succeeded","at_ms":{t2},"data":{{"output":{{"a":null}}}}}}]')
    q = lambda s: s.replace("'", "''")  # noqa: E731
    pg.psql(f"""
        INSERT INTO workflows (name, latest) VALUES ('old', 1);
        INSERT INTO workflow_versions (name, version, source) VALUES ('old', 1, '{q(source)}');
        INSERT INTO runs (run_id, partition, workflow, version, status, idempotency_key, input,
                          output, created_at, updated_at, finished_at, epoch, last_seq)
          VALUES ('{rid}', 0, 'old', 1, 'succeeded', 'key-1', '{{"n":1}}', '{{"a":null}}',
                  to_timestamp({t1} / 1000.0), to_timestamp({t2} / 1000.0),
                  to_timestamp({t2} / 1000.0), 1, 4);
        INSERT INTO run_records VALUES
          ('{rid}', 1, 2, '{q(rec[0] + chr(10) + rec[1])}', to_timestamp({t1} / 1000.0), 1, 2,
           '{q(ev1)}'),
          ('{rid}', 3, 4, '{q(rec[2] + chr(10) + rec[3])}', to_timestamp({t2} / 1000.0), 3, 4,
           '{q(ev2)}');
        INSERT INTO timeouts VALUES ('{rid}', -1, to_timestamp({t2} / 1000.0), true);
    """, db=db)
    up = ringflow(rf_bin, "migrate", "up", "--database-url", url)
    assert up.returncode == 0 and f"schema version {KNOWN} of {KNOWN}" in up.stdout, up

    for table in ("runs", "run_records", "timeouts"):
        where = pg.psql(f"SELECT DISTINCT tableoid::regclass FROM {table} WHERE run_id = '{rid}';",
                        db=db).split()
        assert where == [f"{table}_p{day}"], (table, where)
        kind = pg.psql(f"SELECT relkind FROM pg_class WHERE relname = '{table}';", db=db).strip()
        assert kind == "p", (table, kind)  # partitioned
        assert pg.psql(f"SELECT to_regclass('{table}_v2') IS NULL;", db=db).strip() == "t"
    assert pg.psql("SELECT count(*) FROM runs;", db=db).strip() == "1"
    assert pg.psql("SELECT count(*) FROM run_records;", db=db).strip() == "2"
    rows = pg.psql(f"SELECT seq, last_seq FROM events WHERE run_id = '{rid}' ORDER BY seq;",
                   db=db).split()
    assert rows == ["1|2", "3|4"], rows
    steps = pg.psql(f"SELECT step_id, status, attempts FROM steps WHERE run_id = '{rid}';",
                    db=db).split()
    assert steps == ["a|succeeded|1"], steps
    for index in ("runs_finished_by_workflow", "runs_finished_by_status", "runs_idempotency_key"):
        assert pg.psql(f"SELECT to_regclass('{index}') IS NOT NULL;", db=db).strip() == "t", index
    assert pg.psql("SELECT to_regclass('runs_live_by_partition') IS NULL;", db=db).strip() == "t"
    assert pg.psql("SELECT count(*) FROM live_runs;", db=db).strip() == "0"  # it finished

    # The daemon makes the partitions of today .. today + 2 that are missing.
    ahead = pg.psql("SELECT to_char((now() AT TIME ZONE 'UTC')::date + 2, 'YYYYMMDD');",
                    db=db).strip()
    pg.psql(f"DROP TABLE runs_p{ahead}, run_records_p{ahead}, timeouts_p{ahead};", db=db)
    d = launch_pg(launch, url)
    wait_until(lambda: pg.psql(f"SELECT to_regclass('runs_p{ahead}') IS NOT NULL;",
                               db=db).strip() == "t", 10, what="partitions made ahead")
    st, run = get_run(d, rid)
    assert st == 200 and run["status"] == "succeeded", run
    frames = check_event_frames(sse_events(d, f"/v1/runs/{rid}/events", timeout=5.0), rid)
    assert [(e["seq"], e["type"]) for e in frames] == [
        (1, "run.created"), (2, "step.started"), (3, "step.succeeded"), (4, "run.succeeded")], frames
    # New runs go to today's partition.
    must_put(d, "fresh", {"steps": [{"id": "a", "type": "noop"}]})
    st, new = start(d, "fresh")
    assert st == 201, new
    wait_terminal(d, new["id"], 10)
    today = pg.psql("SELECT to_char((now() AT TIME ZONE 'UTC')::date, 'YYYYMMDD');", db=db).strip()
    where = pg.psql(f"SELECT tableoid::regclass FROM runs WHERE run_id = '{new['id']}';",
                    db=db).strip()
    assert where == f"runs_p{today}", where
    term(d)

    # Only unfinished runs are loaded: both runs here are finished.
    d2 = launch_pg(launch, url)
    log = d2.log_text()
    assert '"records_replayed":0' in log, d2.log_tail()
