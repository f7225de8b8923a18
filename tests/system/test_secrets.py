"""Secrets (issue 12, deliverable 5) against the real daemon, on the store under test
(RINGFLOW_TEST_STORE=embedded, or postgres: the same tests then keep secrets in PostgreSQL).

Invariants checked here:
- A value goes in through PUT /v1/secrets/{name} and out only to the http step that names it:
  the local listener receives the real value (in the URL, a header and the body), while no API
  answer (PUT, list, run, steps, run list, events over SSE, workflow, audit, metrics), no line
  the daemon writes (stderr, stdout, with --access-log and debug logging) and no stored byte
  (the whole data directory; with PostgreSQL every row of every table) holds it.
- An answer that echoes the value is recorded with "[redacted]" in its place.
- {{secrets.X}} anywhere but an http step's url, headers and body is a 422 naming the pointer.
- A secret the run's namespace lacks fails the step at once (one attempt, never called).
- developer and admin write and list, operator and viewer get 403; nobody ever reads a value.
- Namespaces: a secret of namespace a is neither listed nor deletable from b.
- kill -9 and a restart keep the secrets: the next run still sends the value.
- Without a key PUT is 409 secrets_not_configured; a malformed key stops the start (exit 2).
- With PostgreSQL, a second daemon on the same database sees a new secret within seconds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import rfclient
from conftest import store_under_test
from engine_client import (assert_error, call, data_dir, get_run, kill9, must_put, relaunch,
                           sse_events, start, term, wait_until)
from test_auth import ADMIN, api, assert_403, make_key

SECRET = "s3cr3t-Value-7f2e9c"  # distinctive: grep finds it anywhere it leaks
KEY_HEX = "5f1c0e7d9a8b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5"


@pytest.fixture
def key_file(tmp_path) -> Path:
    p = tmp_path / "secrets.key"
    p.write_text(KEY_HEX + "\n")
    p.chmod(0o600)
    return p


def put_secret(d, name, value, token=None, ns=None):
    path = f"/v1/secrets/{name}" if ns is None else f"/v1/namespaces/{ns}/secrets/{name}"
    return api(d, "PUT", path, token, body={"value": value})


def echo_workflow(flaky, secret="API_TOKEN", retry=None):
    wf = {"steps": [{"id": "call", "type": "http", "request": {
        "method": "POST",
        "url": flaky.url("/echo") + "?token={{secrets." + secret + "}}&id={{input.id}}",
        "headers": {"Authorization": "Bearer {{secrets." + secret + "}}"},
        "body": {"token": "{{secrets." + secret + "}}", "n": "{{input.id}}"}}}]}
    if retry:
        wf["retry"] = retry
    return wf


def dump_database(pg, d) -> str:
    """Every row of every table of the daemon's database, as text."""
    db = d.args[d.args.index("--database-url") + 1].rsplit("/", 1)[1]
    tables = pg.psql("SELECT tablename FROM pg_tables WHERE schemaname = 'public';", db=db).split()
    assert "secrets" in tables and "audit_log" in tables, tables
    return "\n".join(pg.psql(f"SELECT t::text FROM {t} t;", db=db) for t in tables)


def all_bytes_under(root: Path) -> list[tuple[Path, bytes]]:
    out = []
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            out.append((p, p.read_bytes()))
    return out


def test_a_secret_reaches_the_listener_and_nothing_else(launch, flaky, key_file, request):
    d = launch("--secrets-key-file", str(key_file), "--access-log", "true", "--log-level", "debug")
    answers = []  # every API body the test sees

    def keep(reply):
        answers.append(reply.resp.body if hasattr(reply, "resp") else reply[0].body)
        return reply

    r, doc = keep(put_secret(d, "API_TOKEN", SECRET))
    assert r.status == 201, r
    assert doc == {"name": "API_TOKEN", "namespace": "default", "created": True,
                   "created_ms": doc["created_ms"], "updated_ms": doc["updated_ms"]}, doc
    assert r.header("Cache-Control") == "no-store"
    reply = keep(call(d, "PUT", "/v1/workflows/leak", echo_workflow(flaky)))
    assert reply.status == 201, reply
    st, run = keep(start(d, "leak", input={"id": 7}, wait="10s"))
    assert st == 201 and run["status"] == "succeeded", run

    # The listener got the real value, in the URL, the header and the body.
    got = flaky.requests("/echo")
    assert len(got) == 1, got
    assert got[0].query == f"token={SECRET}&id=7", got[0].query
    assert got[0].header("Authorization") == f"Bearer {SECRET}"
    assert got[0].json == {"token": SECRET, "n": 7}

    # It echoed the body back: the output holds [redacted] where the value was.
    body = run["steps"][0]["output"]["body"]
    assert body["body"]["token"] == "[redacted]", body
    assert "[redacted]" in json.dumps(run["output"])

    keep(get_run(d, run["id"]))
    keep(call(d, "GET", "/v1/runs?workflow=leak"))
    keep(call(d, "GET", "/v1/workflows/leak"))
    keep(call(d, "GET", "/v1/secrets"))
    keep(call(d, "GET", "/v1/audit"))
    keep(call(d, "GET", "/metrics"))
    events = sse_events(d, f"/v1/runs/{run['id']}/events")
    assert events.status == 200 and any(f.event == "run.succeeded" for f in events.events()), events
    answers.append(events.resp.body)
    for i, b in enumerate(answers):
        assert SECRET.encode() not in b, f"answer {i} holds the secret: {b[:400]!r}"

    term(d)  # flushes everything it keeps
    for f in (d.log_path, d.workdir / "stdout.log"):
        assert SECRET.encode() not in f.read_bytes(), f"{f} holds the secret"
    assert b"access" in d.log_path.read_bytes()  # the access log was on: requests were logged
    stored = all_bytes_under(Path(data_dir(d)))
    assert any(p.name == "secrets.json" for p, _ in stored) or store_under_test() == "postgres"
    for p, b in stored:
        assert SECRET.encode() not in b, f"{p} holds the secret"
    if store_under_test() == "postgres":
        text = dump_database(request.getfixturevalue("pg"), d)
        assert "API_TOKEN" in text and SECRET not in text


def test_references_outside_http_request_fields_are_422(launch, key_file):
    d = launch("--secrets-key-file", str(key_file))
    cases = [
        ({"steps": [{"id": "t", "type": "transform", "output": {"x": "{{secrets.T}}"}}]},
         "/steps/0/output/x"),
        ({"steps": [{"id": "a", "type": "noop", "when": "{{secrets.T}} == 'x'"}]}, "/steps/0/when"),
        ({"output": {"leak": "{{secrets.T}}"}, "steps": [{"id": "a", "type": "noop"}]}, "/output/leak"),
    ]
    for wf, field in cases:
        st, doc = call(d, "PUT", "/v1/workflows/bad", wf)
        assert st == 422, (wf, doc)
        errors = doc["error"]["errors"]
        assert any(e["field"] == field and "{{secrets.T}}" in e["message"] for e in errors), errors
    st, doc = call(d, "PUT", "/v1/workflows/bad", {"steps": [{"id": "h", "type": "http", "request": {
        "url": "http://127.0.0.1:9/", "headers": {"X": "{{secrets.T.field}}"}}}]})
    assert st == 422 and doc["error"]["errors"][0]["field"] == "/steps/0/request/headers/X", doc


def test_a_missing_secret_fails_the_step_at_once(launch, flaky, key_file):
    d = launch("--secrets-key-file", str(key_file))
    must_put(d, "nosecret", echo_workflow(flaky, "NOT_SET", retry={"max_attempts": 4, "initial_ms": 1}))
    st, run = start(d, "nosecret", input={"id": 1}, wait="10s")
    assert st == 201 and run["status"] == "failed", run
    attempts = run["steps"][0]["attempts"]
    assert len(attempts) == 1, run
    assert attempts[0]["error"] == "not_found: secret 'NOT_SET' is not set in namespace 'default'", attempts
    assert flaky.calls("/echo") == 0
    samples = rfclient.scrape(d.port)
    assert rfclient.metric_sum(samples, "rf_secret_resolutions_total", result="not_found") == 1
    assert rfclient.metric_sum(samples, "rf_secrets") == 0


def test_put_list_delete_and_bad_input(launch, key_file):
    d = launch("--secrets-key-file", str(key_file), "--json-mutations", "off")
    assert put_secret(d, "A", "one")[0].status == 201
    r, doc = put_secret(d, "A", "two")
    assert r.status == 200 and doc["created"] is False, doc
    assert put_secret(d, "B-2_x", "")[0].status == 201  # empty values are values
    st, doc = call(d, "GET", "/v1/secrets")
    assert st == 200 and [s["name"] for s in doc["secrets"]] == ["A", "B-2_x"], doc
    assert all(set(s) == {"name", "created_ms", "updated_ms"} for s in doc["secrets"]), doc
    assert doc["secrets"][0]["updated_ms"] >= doc["secrets"][0]["created_ms"]
    # A value must come as JSON, whatever --json-mutations says.
    assert_error(call(d, "PUT", "/v1/secrets/A", b'{"value":"x"}', content_type=None), 415,
                 "unsupported_media_type")
    assert_error(call(d, "PUT", "/v1/secrets/A", "value=x", content_type="application/x-www-form-urlencoded"),
                 415, "unsupported_media_type")
    assert_error(call(d, "PUT", "/v1/secrets/A", {"value": 5}), 400, "invalid_argument", "/value")
    assert_error(call(d, "PUT", "/v1/secrets/A", {"value": "x", "extra": 1}), 400, "invalid_argument", "/extra")
    assert_error(call(d, "PUT", "/v1/secrets/A", {}), 400, "invalid_argument", "/value")
    assert_error(call(d, "PUT", "/v1/secrets/A", "[1]"), 400, "invalid_argument")
    assert_error(call(d, "PUT", "/v1/secrets/A", "{nope"), 400, "invalid_json")
    assert_error(call(d, "PUT", "/v1/secrets/a.b", {"value": "x"}), 400, "invalid_argument")
    assert_error(call(d, "PUT", "/v1/secrets/" + "x" * 129, {"value": "x"}), 400, "invalid_argument")
    assert_error(call(d, "PUT", "/v1/secrets/A?x=1", {"value": "x"}), 400, "invalid_argument")
    assert_error(call(d, "PUT", "/v1/secrets/BIG", {"value": "v" * (64 * 1024 + 1)}), 413, "payload_too_large")
    assert_error(call(d, "PUT", "/v1/namespaces/Bad_NS/secrets/A", {"value": "x"}), 400, "invalid_argument")
    assert call(d, "PUT", "/v1/secrets/MAX", {"value": "v" * (64 * 1024)}).status == 201
    st, doc = call(d, "DELETE", "/v1/secrets/A")
    assert st == 200 and doc == {"name": "A", "deleted": True}, doc
    assert_error(call(d, "DELETE", "/v1/secrets/A"), 404, "secret_not_found")
    st, doc = call(d, "GET", "/v1/secrets")
    assert [s["name"] for s in doc["secrets"]] == ["B-2_x", "MAX"], doc


def test_without_a_key_put_is_409_and_a_bad_key_stops_the_start(launch, rf_bin, tmp_path):
    d = launch()
    err = assert_error(call(d, "PUT", "/v1/secrets/A", {"value": "x"}), 409, "secrets_not_configured")
    assert "--secrets-key-file" in err["message"]
    assert call(d, "GET", "/v1/secrets").status == 200
    for text, why in ((b"abc\n", "64 hex digits"), (b"a" * 32, "text"), (b"00" * 32, "zeros"),
                      (b"zz" * 32, "64 hex digits")):
        bad = tmp_path / "bad.key"
        bad.write_bytes(text)
        port = rfclient.free_port()
        p = rfclient.Daemon(rf_bin, tmp_path / f"bad{len(text)}{why[0]}",
                            ["serve", "--listen", f"127.0.0.1:{port}", "--shards", "1", "--data-dir",
                             str(tmp_path / "bad-data"), "--secrets-key-file", str(bad)], port)
        p.start()
        assert p.wait(10) == 2, p.log_tail()
        log = p.log_text()
        assert "cannot use the secrets key" in log and why in log, log
        assert text.decode(errors="replace").strip() not in log or len(text.strip()) < 4, log
    missing = rfclient.Daemon(rf_bin, tmp_path / "missing", ["serve", "--listen", f"127.0.0.1:{rfclient.free_port()}",
                              "--shards", "1", "--data-dir", str(tmp_path / "bad-data"),
                              "--secrets-key-file", str(tmp_path / "nope.key")], 0)
    missing.start()
    assert missing.wait(10) == 2 and "nope.key" in missing.log_text(), missing.log_tail()
    # RINGFLOW_SECRETS_KEY works as the key file does.
    e = launch(env={"RINGFLOW_SECRETS_KEY": KEY_HEX})
    assert put_secret(e, "FROM_ENV", "x")[0].status == 201


def test_roles_and_namespaces(launch, key_file):
    d = launch("--auth", "on", "--secrets-key-file", str(key_file), env={"RINGFLOW_ADMIN_KEY": ADMIN})
    tokens = {role: make_key(d, role)["key"] for role in ("admin", "operator", "developer", "viewer")}
    assert put_secret(d, "DEV", "d", tokens["developer"])[0].status == 201
    assert put_secret(d, "ADM", "a", tokens["admin"])[0].status == 201
    for role in ("operator", "viewer"):
        assert_403(put_secret(d, "NO", "x", tokens[role])[0])
        assert_403(api(d, "GET", "/v1/secrets", tokens[role])[0])
        assert_403(api(d, "DELETE", "/v1/secrets/DEV", tokens[role])[0])
    for role in ("developer", "admin"):
        r, doc = api(d, "GET", "/v1/secrets", tokens[role])
        assert r.status == 200 and [s["name"] for s in doc["secrets"]] == ["ADM", "DEV"], doc
        assert b'"d"' not in r.body and b'"a"' not in r.body
    assert api(d, "GET", "/v1/secrets")[0].status == 401

    # Namespace a's developer works in a only; b never sees a's secret.
    dev_a = make_key(d, "developer", ns="team-a")["key"]
    assert put_secret(d, "A_ONLY", SECRET, dev_a, ns="team-a")[0].status == 201
    assert_403(put_secret(d, "X", "x", dev_a, ns="team-b")[0])
    assert_403(put_secret(d, "X", "x", dev_a)[0])  # /v1/secrets is namespace default
    r, doc = api(d, "GET", "/v1/namespaces/team-b/secrets", ADMIN)
    assert r.status == 200 and doc == {"namespace": "team-b", "secrets": []}, doc
    assert api(d, "DELETE", "/v1/namespaces/team-b/secrets/A_ONLY", ADMIN)[0].status == 404
    r, doc = api(d, "GET", "/v1/namespaces/team-a/secrets", dev_a)
    assert [s["name"] for s in doc["secrets"]] == ["A_ONLY"], doc
    r, doc = api(d, "GET", "/v1/secrets", ADMIN)
    assert "A_ONLY" not in r.body.decode(), doc


def test_a_secret_of_another_namespace_is_not_usable(launch, flaky, key_file):
    """The engine reads a secret in the run's own namespace (its workflow's qualified name):
    a run of namespace b cannot use a's secret, and a run of a can."""
    d = launch("--secrets-key-file", str(key_file))
    assert put_secret(d, "API_TOKEN", SECRET, ns="team-a")[0].status == 201
    st, doc = call(d, "PUT", "/v1/namespaces/team-b/workflows/w", echo_workflow(flaky))
    if st == 404 and doc["error"]["code"] == "not_found":
        pytest.skip("workflows are not namespaced on this branch yet (no /v1/namespaces/{ns}/workflows)")
    assert st == 201, doc
    st, run = call(d, "POST", "/v1/namespaces/team-b/workflows/w/runs?wait=10s", {"input": {"id": 1}})
    assert run["status"] == "failed" and "not set in namespace 'team-b'" in json.dumps(run), run
    assert flaky.calls("/echo") == 0
    assert call(d, "PUT", "/v1/namespaces/team-a/workflows/w", echo_workflow(flaky)).status == 201
    st, run = call(d, "POST", "/v1/namespaces/team-a/workflows/w/runs?wait=10s", {"input": {"id": 1}})
    assert run["status"] == "succeeded", run
    assert flaky.requests("/echo")[0].header("Authorization") == f"Bearer {SECRET}"


def test_kill9_and_restart_keep_the_secrets(launch, flaky, key_file):
    d = launch("--secrets-key-file", str(key_file))
    assert put_secret(d, "API_TOKEN", SECRET)[0].status == 201
    assert put_secret(d, "GONE", "x")[0].status == 201
    assert call(d, "DELETE", "/v1/secrets/GONE").status == 200
    must_put(d, "again", echo_workflow(flaky))
    kill9(d)
    d2 = relaunch(launch, d, "--secrets-key-file", str(key_file))
    st, doc = call(d2, "GET", "/v1/secrets")
    assert [s["name"] for s in doc["secrets"]] == ["API_TOKEN"], doc
    st, run = start(d2, "again", input={"id": 2}, wait="10s")
    assert run["status"] == "succeeded", run
    assert flaky.requests("/echo")[-1].json == {"token": SECRET, "n": 2}
    # Another key cannot open what the first sealed: the step says so, without the value.
    other = key_file.parent / "other.key"
    other.write_text("ab" * 32)
    other.chmod(0o600)
    term(d2)
    d3 = relaunch(launch, d2, "--secrets-key-file", str(other))
    st, run = start(d3, "again", input={"id": 3}, wait="10s")
    assert run["status"] == "failed", run
    assert "sealed with another key" in run["steps"][0]["attempts"][0]["error"], run
    assert "sealed with another key" in d3.log_text()


@pytest.mark.skipif(store_under_test() != "postgres", reason="a shared database: RINGFLOW_TEST_STORE=postgres")
def test_another_daemon_on_the_database_sees_new_secrets(launch, flaky, key_file, pg):
    from test_pg_store import fresh_db, launch_pg
    _, url = fresh_db(pg)
    d1 = launch_pg(launch, url, "--migrate", "true", "--secrets-key-file", str(key_file))
    d2 = launch_pg(launch, url, "--secrets-key-file", str(key_file))
    assert put_secret(d1, "SHARED", SECRET)[0].status == 201
    wait_until(lambda: [s["name"] for s in call(d2, "GET", "/v1/secrets").json["secrets"]] == ["SHARED"],
               10.0, 0.1, "d2 lists the secret made on d1")
    assert call(d1, "DELETE", "/v1/secrets/SHARED").status == 200
    wait_until(lambda: call(d2, "GET", "/v1/secrets").json["secrets"] == [], 10.0, 0.1,
               "d2 forgets the deleted secret")
