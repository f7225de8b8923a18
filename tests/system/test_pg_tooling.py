"""The private PostgreSQL cluster of the tests (tools/pg.sh through the `pg` fixture), and the
store's first migration applied to it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pg_fixtures import PgError

MIGRATION = Path(__file__).resolve().parents[2] / "src/store/postgres/migrations/0001_init.sql"


def test_cluster_is_private_and_configured(pg):
    assert re.fullmatch(r"postgresql://ringflow@127\.0\.0\.1:\d+/ringflow", pg.url), pg.url
    assert pg.url.endswith(f":{pg.port}/ringflow")
    row = pg.psql("SELECT current_user, current_database(), current_setting('listen_addresses'),"
                  " current_setting('max_connections'), inet_server_port(),"
                  " current_setting('server_version_num')::int >= 140000;").strip()
    assert row == f"ringflow|ringflow|127.0.0.1|200|{pg.port}|t", row
    assert pg.pid and Path(f"/proc/{pg.pid}").exists()


def test_data_survives_a_restart_on_the_same_port(pg):
    pg.psql("CREATE TABLE tooling_restart (id int PRIMARY KEY, doc jsonb NOT NULL);"
            "INSERT INTO tooling_restart SELECT i, jsonb_build_object('i', i)"
            " FROM generate_series(1, 100) i;")
    pid, port = pg.pid, pg.port
    pg.restart()
    assert pg.port == port and pg.pid != pid
    assert not Path(f"/proc/{pid}/cwd").exists(), "the old postmaster is still alive"
    got = pg.psql("SELECT count(*), sum((doc->>'i')::int) FROM tooling_restart;").strip()
    assert got == "100|5050", got


def test_stop_refuses_connections_until_start(pg):
    pg.psql("CREATE TABLE tooling_stop (v text); INSERT INTO tooling_stop VALUES ('kept');")
    pg.stop()
    try:
        assert pg.pid is None
        with pytest.raises(PgError):
            pg.psql("SELECT 1;", timeout=15)
    finally:
        pg.start()
    assert pg.psql("SELECT v FROM tooling_stop;").strip() == "kept"


def test_psql_reports_the_server_error(pg):
    with pytest.raises(PgError, match="tooling_no_such_table"):
        pg.psql("SELECT * FROM tooling_no_such_table;")


def test_initial_migration_applies_and_retention_cascades(pg):
    """0001_init.sql applies in one transaction; retention's deletes (run_records and events
    by run id, then the run, whose timeouts cascade) leave nothing of the run."""
    pg.psql("DROP DATABASE IF EXISTS tooling_migrate; CREATE DATABASE tooling_migrate;")
    try:
        pg.psql(f"BEGIN;\n{MIGRATION.read_text()}\nCOMMIT;", db="tooling_migrate")
        run = "018bd021-adb0-7000-8452-e560b2834d0f"  # byte 7 (the partition) is 0
        child_tables = ["run_records", "events", "timeouts"]
        pg.psql(f"""
            INSERT INTO runs (run_id, partition, workflow, version, status, created_at, updated_at,
                              epoch)
              VALUES ('{run}', 0, 'wf', 1, 'running', now(), now(), 1);
            INSERT INTO run_records VALUES ('{run}', 1, 1, '{{}}', now());
            INSERT INTO events (run_id, seq, last_seq, workflow, data, created_at)
              VALUES ('{run}', 1, 1, 'wf', '[]', now());
            INSERT INTO timeouts (run_id, step_index, expire_at) VALUES ('{run}', -1, now());
        """, db="tooling_migrate")
        counts = " UNION ALL ".join(f"SELECT count(*) FROM {t}" for t in child_tables)
        assert pg.psql(counts + ";", db="tooling_migrate").split() == ["1"] * 3
        for status, constraint in [("done", "runs_status_known"),
                                   ("failed", "runs_finished_iff_terminal")]:
            with pytest.raises(PgError, match=constraint):
                pg.psql(f"UPDATE runs SET status = '{status}' WHERE run_id = '{run}';",
                        db="tooling_migrate")
        pg.psql(f"""BEGIN;
            DELETE FROM run_records WHERE run_id = '{run}';
            DELETE FROM events WHERE run_id = '{run}';
            DELETE FROM runs WHERE run_id = '{run}';
            COMMIT;""", db="tooling_migrate")
        assert pg.psql(counts + ";", db="tooling_migrate").split() == ["0"] * 3
    finally:
        pg.psql("DROP DATABASE IF EXISTS tooling_migrate;")
