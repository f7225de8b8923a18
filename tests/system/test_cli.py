"""The client commands of the ringflow binary (src/cli) against a real daemon.

Every test runs the binary as a user would (`ringflow runs start ...`) with --server pointing
at a daemon the fixtures started, and checks what it printed, its exit status, and what the
daemon holds afterwards (over the API, with rfclient's raw HTTP client).

Exit statuses (src/cli/session.h): 0 ok, 1 the daemon answered 4xx/5xx, 2 usage error,
3 cannot reach the daemon, 4 the run finished failed or cancelled (watch, start --wait).
"""

from __future__ import annotations

import json
import os
import pty
import select
import shlex
import socket
import subprocess
import threading
import time
import uuid

import pytest

import rfclient
from test_store_tls import certs  # noqa: F401 (a fixture)

CLI_TIMEOUT = 60  # seconds a CLI call may take before the test gives up on it


def run_cli(rf_bin, server, *args, stdin: str | None = None, env: dict | None = None):
    """Runs `ringflow ARGS` against `server` (a Daemon, a URL, or None for no --server)."""
    cmd = [str(rf_bin)]
    if server is not None:
        url = server if isinstance(server, str) else f"http://127.0.0.1:{server.port}"
        cmd += ["--server", url]
    cmd += [str(a) for a in args]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("RINGFLOW_") or k == "RINGFLOW_BIN"}
    full_env.pop("NO_COLOR", None)
    full_env.update(env or {})
    return subprocess.run(cmd, input=stdin if stdin is not None else "", capture_output=True, text=True,
                          env=full_env, timeout=CLI_TIMEOUT)


def api_get(d, path):
    r = rfclient.get(d.port, path)
    return r.status, (json.loads(r.body) if r.body else None)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def closed_port() -> int:
    return rfclient.free_port()  # bound and released: nothing listens there


def put_definition(d, name: str, definition: dict) -> None:
    body = json.dumps(definition).encode()
    with rfclient.Conn(d.port) as c:
        c.request("PUT", f"/v1/workflows/{name}", {"Content-Type": "application/json"}, body)
        r = c.read_response()
    assert r.status in (200, 201), r


def delay_flow(ms: int = 1500) -> dict:
    return {"steps": [{"id": "greet", "type": "transform", "output": {"text": "hi {{input.name}}"}},
                      {"id": "pause", "type": "delay", "ms": ms, "depends_on": ["greet"]}]}


def failing_flow() -> dict:
    return {"steps": [{"id": "call", "type": "http", "retry": {"max_attempts": 1},
                       "request": {"url": f"http://127.0.0.1:{closed_port()}/x"}}]}


def approval_flow() -> dict:
    return {"steps": [{"id": "ok", "type": "approval", "timeout_ms": 600000}]}


def start_run(rf_bin, d, workflow: str, *extra) -> str:
    r = run_cli(rf_bin, d, "runs", "start", workflow, "--output", "name", *extra)
    assert r.returncode == 0, r.stderr
    run_id = r.stdout.strip()
    assert rfclient_run_id(run_id), r.stdout
    return run_id


def rfclient_run_id(text: str) -> bool:
    import engine_client
    return engine_client.RUN_ID.fullmatch(text) is not None


def wait_status(d, run_id: str, statuses: set[str], timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status, run = api_get(d, f"/v1/runs/{run_id}")
        assert status == 200, run
        if run["status"] in statuses:
            return run
        assert time.monotonic() < deadline, f"run {run_id} still {run['status']}"
        time.sleep(0.05)


# --------------------------------------------------------------------------
# workflows apply
# --------------------------------------------------------------------------


def test_apply_json_file_creates_the_workflow_and_shows_it_as_added_lines(rf_bin, server, tmp_path):
    name = unique("cli-json")
    f = tmp_path / "flow.json"
    f.write_text(json.dumps({"name": name, **delay_flow(100)}))
    r = run_cli(rf_bin, server, "workflows", "apply", f, "--yes")
    assert r.returncode == 0, r.stderr
    assert f"--- /dev/null (new workflow {name})" in r.stdout
    assert f"+++ {f}" in r.stdout
    assert '+      "type": "delay",' in r.stdout
    assert f"{name}: created version 1" in r.stdout
    status, body = api_get(server, f"/v1/workflows/{name}")
    assert status == 200 and body["version"] == 1
    assert body["definition"]["steps"][1] == {"id": "pause", "type": "delay", "ms": 100, "depends_on": ["greet"]}


def test_apply_yaml_maps_scalars_by_the_core_schema(rf_bin, server, tmp_path):
    name = unique("cli-yaml")
    f = tmp_path / f"{name}.yaml"  # no name field: the file name gives it
    f.write_text(
        "# comments and anchors are YAML's business\n"
        "retry: &r {max_attempts: 2, initial_ms: 10}\n"
        "steps:\n"
        "  - id: shape\n"
        "    type: transform\n"
        "    output:\n"
        "      count: 3\n"
        "      ratio: 0.5\n"
        "      flag: true\n"
        "      nothing: ~\n"
        "      quoted: \"123\"\n"
        "      word: yes\n"
        "      text: |\n"
        "        two\n"
        "        lines\n"
        "  - id: wait\n"
        "    type: delay\n"
        "    ms: 10\n"
        "    depends_on: [shape]\n"
        "    retry: *r\n")
    r = run_cli(rf_bin, server, "workflows", "apply", f, "--yes")
    assert r.returncode == 0, r.stderr
    status, body = api_get(server, f"/v1/workflows/{name}")
    assert status == 200, body
    d = body["definition"]
    assert d["retry"] == {"max_attempts": 2, "initial_ms": 10}
    assert d["steps"][0]["output"] == {"count": 3, "ratio": 0.5, "flag": True, "nothing": None,
                                       "quoted": "123", "word": "yes", "text": "two\nlines\n"}
    assert d["steps"][1]["retry"] == {"max_attempts": 2, "initial_ms": 10}
    assert isinstance(d["steps"][1]["ms"], int)


def test_apply_directory_registers_every_json_yaml_and_yml_file(rf_bin, server, tmp_path):
    names = [unique("cli-dir-a"), unique("cli-dir-b"), unique("cli-dir-c")]
    (tmp_path / "a.json").write_text(json.dumps({"name": names[0], **approval_flow()}))
    (tmp_path / "b.yaml").write_text(f"name: {names[1]}\nsteps:\n  - {{id: s, type: noop}}\n")
    (tmp_path / f"{names[2]}.yml").write_text("steps:\n  - id: s\n    type: noop\n")
    (tmp_path / "notes.txt").write_text("not a definition")
    r = run_cli(rf_bin, server, "workflows", "apply", tmp_path, "--yes", "--output", "json")
    assert r.returncode == 0, r.stderr
    results = json.loads(r.stdout)
    assert [x["name"] for x in results] == names  # sorted by file name
    assert all(x["created"] is True and x["version"] == 1 for x in results)
    for n in names:
        assert api_get(server, f"/v1/workflows/{n}")[0] == 200
    # The diff went to stderr, since stdout carries JSON.
    assert "+++ " in r.stderr and "3 to create, 0 to update, 0 unchanged" in r.stderr


def test_apply_shows_a_unified_diff_of_a_change_and_unchanged_reapply_says_so(rf_bin, server, tmp_path):
    name = unique("cli-diff")
    f = tmp_path / "flow.json"
    f.write_text(json.dumps({"name": name, **delay_flow(100)}))
    assert run_cli(rf_bin, server, "workflows", "apply", f, "--yes").returncode == 0
    f.write_text(json.dumps({"name": name, **delay_flow(250)}))
    r = run_cli(rf_bin, server, "workflows", "apply", f, "--yes")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert f"--- {name} (version 1, on the server)" in lines
    assert f"+++ {f}" in lines
    assert '-      "ms": 100,' in lines and '+      "ms": 250,' in lines
    hunk = next(l for l in lines if l.startswith("@@"))
    assert hunk.startswith("@@ -") and hunk.endswith(" @@")
    # Context lines around the change, no added/removed line other than the two.
    changed = [l for l in lines if l[:1] in "+-" and not l.startswith(("+++", "---"))]
    assert changed == ['-      "ms": 100,', '+      "ms": 250,']
    assert f"{name}: updated to version 2" in lines
    assert "0 to create, 1 to update, 0 unchanged" in lines
    again = run_cli(rf_bin, server, "workflows", "apply", f, "--yes")
    assert again.returncode == 0
    assert f"{name}: unchanged (version 2)" in again.stdout
    assert "@@" not in again.stdout
    assert api_get(server, f"/v1/workflows/{name}")[1]["version"] == 2


def test_apply_without_yes_on_a_pipe_refuses_and_dry_run_applies_nothing(rf_bin, server, tmp_path):
    name = unique("cli-confirm")
    f = tmp_path / "flow.json"
    f.write_text(json.dumps({"name": name, **approval_flow()}))
    r = run_cli(rf_bin, server, "workflows", "apply", f, stdin="y\n")
    assert r.returncode == 2
    assert "--yes" in r.stderr
    assert "+++ " in r.stdout  # the diff is shown before refusing
    dry = run_cli(rf_bin, server, "workflows", "apply", f, "--dry-run")
    assert dry.returncode == 0 and "1 to create" in dry.stdout
    assert api_get(server, f"/v1/workflows/{name}")[0] == 404


def _apply_on_a_terminal(rf_bin, server, path, answer: bytes):
    """Runs apply with stdin and stderr on a pseudo-terminal, answers the prompt, returns
    (exit status, terminal text, stdout)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([str(rf_bin), "--server", f"http://127.0.0.1:{server.port}", "workflows", "apply",
                             str(path)], stdin=slave, stderr=slave, stdout=subprocess.PIPE, close_fds=True)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + CLI_TIMEOUT
    while b"[y/N]" not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            seen += os.read(master, 4096)
    assert b"[y/N]" in seen, seen
    os.write(master, answer)
    out, _ = proc.communicate(timeout=CLI_TIMEOUT)
    try:
        while select.select([master], [], [], 0.2)[0]:
            seen += os.read(master, 4096)
    except OSError:
        pass
    os.close(master)
    return proc.returncode, seen.decode(errors="replace"), out.decode()


def test_apply_asks_on_a_terminal_and_applies_only_after_yes(rf_bin, server, tmp_path):
    name = unique("cli-ask")
    f = tmp_path / "flow.json"
    f.write_text(json.dumps({"name": name, **approval_flow()}))
    rc, tty, out = _apply_on_a_terminal(rf_bin, server, f, b"n\n")
    assert rc == 0 and "Apply to http://127.0.0.1:" in tty and "nothing applied" in tty
    assert "+++ " in out
    assert api_get(server, f"/v1/workflows/{name}")[0] == 404
    rc, tty, out = _apply_on_a_terminal(rf_bin, server, f, b"y\n")
    assert rc == 0 and f"{name}: created version 1" in out
    assert api_get(server, f"/v1/workflows/{name}")[0] == 200


def test_apply_of_an_invalid_definition_exits_1_with_the_servers_reason(rf_bin, server, tmp_path):
    f = tmp_path / "bad.json"
    f.write_text(json.dumps({"name": unique("cli-invalid"), "steps": [{"id": "x", "type": "teleport"}]}))
    r = run_cli(rf_bin, server, "workflows", "apply", f, "--yes")
    assert r.returncode == 1
    assert "invalid_definition" in r.stderr and "(HTTP 422)" in r.stderr
    assert "/steps/0/type" in r.stderr


@pytest.mark.parametrize("text,needle", [
    ("steps:\n  - id: a\n   type: noop\n", "line 3"),      # bad indentation
    ("steps: [\n", "line 2"),                              # unclosed flow sequence
    ("a: 1\na: 2\n", "appears twice"),                     # duplicate key
    ("--- {a: 1}\n--- {b: 2}\n", "more than one document"),
    ("x: .inf\n", "no JSON form"),
    ("x: !custom 1\n", "unsupported tag"),
])
def test_apply_of_malformed_yaml_is_a_usage_error_naming_the_place(rf_bin, server, tmp_path, text, needle):
    f = tmp_path / "broken.yaml"
    f.write_text(text)
    r = run_cli(rf_bin, server, "workflows", "apply", f, "--yes")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert needle in r.stderr and "broken.yaml" in r.stderr


def test_apply_of_a_yaml_alias_bomb_fails_instead_of_expanding(rf_bin, server, tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    f = tmp_path / "bomb.yaml"
    f.write_text("\n".join(lines) + "\n")
    r = run_cli(rf_bin, server, "workflows", "apply", f, "--yes")
    assert r.returncode == 2
    assert "more than 1000000 values" in r.stderr


def test_apply_of_a_missing_file_or_empty_directory_is_a_usage_error(rf_bin, server, tmp_path):
    r = run_cli(rf_bin, server, "workflows", "apply", tmp_path / "nope.json", "--yes")
    assert r.returncode == 2 and "nope.json" in r.stderr
    (tmp_path / "empty").mkdir()
    r = run_cli(rf_bin, server, "workflows", "apply", tmp_path / "empty", "--yes")
    assert r.returncode == 2 and "no *.json, *.yaml or *.yml" in r.stderr


# --------------------------------------------------------------------------
# workflows list / get
# --------------------------------------------------------------------------


def test_workflows_list_and_get_in_every_format(rf_bin, server):
    name = unique("cli-list")
    put_definition(server, name, approval_flow())
    table = run_cli(rf_bin, server, "workflows", "list")
    assert table.returncode == 0
    header = table.stdout.splitlines()[0]
    assert header.split() == ["NAME", "VERSION", "VERSIONS", "STEPS"]
    row = next(l for l in table.stdout.splitlines() if l.startswith(name + " "))
    assert row.split() == [name, "1", "1", "1"]
    # Columns are aligned: every row starts its VERSION column where the header does.
    col = header.index("VERSION")
    assert all(l[col - 2:col] == "  " for l in table.stdout.splitlines()[1:])
    as_json = json.loads(run_cli(rf_bin, server, "workflows", "list", "-o", "json").stdout)
    assert any(w["name"] == name for w in as_json["workflows"])
    names = run_cli(rf_bin, server, "workflows", "list", "--output=name").stdout.split()
    assert name in names
    got = run_cli(rf_bin, server, "workflows", "get", name)
    assert got.returncode == 0 and got.stdout.startswith(f"# {name}, version 1\n")
    assert json.loads(got.stdout.split("\n", 1)[1]) == approval_flow()
    got_json = json.loads(run_cli(rf_bin, server, "workflows", "get", name, "--version", "1", "-o", "json").stdout)
    assert got_json["definition"] == approval_flow()
    missing = run_cli(rf_bin, server, "workflows", "get", unique("cli-none"))
    assert missing.returncode == 1 and "workflow_not_found" in missing.stderr


def test_namespace_option_and_env_act_in_that_namespace_only(rf_bin, server, tmp_path):
    name = unique("cli-ns")
    f = tmp_path / f"{name}.json"
    f.write_text(json.dumps({"name": name, **approval_flow()}))
    r = run_cli(rf_bin, server, "--namespace", "team-cli", "workflows", "apply", str(f), "--yes")
    assert r.returncode == 0, r.stderr
    assert api_get(server, f"/v1/namespaces/team-cli/workflows/{name}")[0] == 200
    assert api_get(server, f"/v1/workflows/{name}")[0] == 404
    listed = run_cli(rf_bin, server, "workflows", "list", "-o", "name", env={"RINGFLOW_NAMESPACE": "team-cli"})
    assert listed.stdout.split() == [name]
    assert name not in run_cli(rf_bin, server, "workflows", "list", "-o", "name").stdout.split()
    run_id = start_run(rf_bin, server, name, "-n", "team-cli")
    got = run_cli(rf_bin, server, "-n", "team-cli", "runs", "get", run_id, "-o", "json")
    assert got.returncode == 0 and json.loads(got.stdout)["namespace"] == "team-cli"
    other = run_cli(rf_bin, server, "runs", "get", run_id)
    assert other.returncode == 1 and "run_not_found" in other.stderr
    bad = run_cli(rf_bin, server, "--namespace", "Team_X", "workflows", "list")
    assert bad.returncode == 2 and "not a namespace name" in bad.stderr


# --------------------------------------------------------------------------
# runs
# --------------------------------------------------------------------------


def test_runs_start_then_a_repeated_idempotency_key_gives_the_same_run(rf_bin, server):
    name = unique("cli-start")
    put_definition(server, name, approval_flow())
    r = run_cli(rf_bin, server, "runs", "start", name, "--input", '{"n": 1}', "--idempotency-key", "k-1",
                "--priority", "low", "-o", "json")
    assert r.returncode == 0, r.stderr
    run = json.loads(r.stdout)
    assert run["workflow"] == name and run["input"] == {"n": 1} and run["priority"] == "low"
    again = run_cli(rf_bin, server, "runs", "start", name, "--input", '{"n": 1}', "--idempotency-key", "k-1")
    assert again.returncode == 0
    assert f"run {run['id']} already exists for this idempotency key" in again.stdout
    first = run_cli(rf_bin, server, "runs", "start", name)
    assert first.returncode == 0 and first.stdout.startswith("run ") and " started (workflow " in first.stdout


def test_runs_start_reads_input_from_a_file(rf_bin, server, tmp_path):
    name = unique("cli-input")
    put_definition(server, name, approval_flow())
    f = tmp_path / "input.json"
    f.write_text('{"order": 42, "items": ["a", "b"]}')
    run = json.loads(run_cli(rf_bin, server, "runs", "start", name, "--input", f"@{f}", "-o", "json").stdout)
    assert run["input"] == {"order": 42, "items": ["a", "b"]}
    bad = run_cli(rf_bin, server, "runs", "start", name, "--input", "{oops")
    assert bad.returncode == 2 and "--input is not JSON" in bad.stderr
    missing = run_cli(rf_bin, server, "runs", "start", name, "--input", f"@{tmp_path}/none.json")
    assert missing.returncode == 2 and "none.json" in missing.stderr


def test_runs_start_wait_returns_the_finished_run_and_exit_4_when_it_failed(rf_bin, server):
    ok = unique("cli-wait-ok")
    put_definition(server, ok, delay_flow(300))
    r = run_cli(rf_bin, server, "runs", "start", ok, "--input", '{"name": "ada"}', "--wait", "-o", "json")
    assert r.returncode == 0, r.stderr
    run = json.loads(r.stdout)
    assert run["status"] == "succeeded"
    assert [s["status"] for s in run["steps"]] == ["succeeded", "succeeded"]
    bad = unique("cli-wait-bad")
    put_definition(server, bad, failing_flow())
    r = run_cli(rf_bin, server, "runs", "start", bad, "--wait")
    assert r.returncode == 4, (r.stdout, r.stderr)
    assert "status    failed" in r.stdout and "STEP" in r.stdout


def test_runs_get_shows_the_run_and_its_steps(rf_bin, server):
    name = unique("cli-get")
    put_definition(server, name, delay_flow(10))
    run_id = start_run(rf_bin, server, name, "--input", '{"name": "bob"}')
    wait_status(server, run_id, {"succeeded"})
    r = run_cli(rf_bin, server, "runs", "get", run_id)
    assert r.returncode == 0
    assert f"run       {run_id}" in r.stdout
    assert "status    succeeded" in r.stdout
    assert 'input     {"name":"bob"}' in r.stdout
    rows = r.stdout.split("\n\n", 1)[1].splitlines()
    assert rows[0].split() == ["STEP", "TYPE", "STATUS", "ATTEMPTS", "DURATION", "ERROR"]
    assert rows[1].split()[:4] == ["greet", "transform", "succeeded", "1"]
    assert rows[2].split()[:4] == ["pause", "delay", "succeeded", "1"]
    as_json = json.loads(run_cli(rf_bin, server, "runs", "get", run_id, "-o", "json").stdout)
    assert as_json["id"] == run_id and [st["id"] for st in as_json["steps"]] == ["greet", "pause"]


def test_runs_list_filters_by_workflow_status_and_limit(rf_bin, server):
    name = unique("cli-runs")
    put_definition(server, name, approval_flow())
    ids = [start_run(rf_bin, server, name) for _ in range(3)]
    assert run_cli(rf_bin, server, "runs", "cancel", ids[0]).returncode == 0
    listed = json.loads(run_cli(rf_bin, server, "runs", "list", "--workflow", name, "-o", "json").stdout)
    assert sorted(r["id"] for r in listed["runs"]) == sorted(ids)
    cancelled = json.loads(run_cli(rf_bin, server, "runs", "list", "--workflow", name, "--status", "cancelled",
                                   "-o", "json").stdout)
    assert [r["id"] for r in cancelled["runs"]] == [ids[0]]
    limited = run_cli(rf_bin, server, "runs", "list", "--workflow", name, "--limit", "2")
    assert limited.returncode == 0
    lines = limited.stdout.splitlines()
    assert lines[0].split() == ["ID", "WORKFLOW", "VERSION", "STATUS", "CREATED", "DURATION"]
    assert len(lines) == 3
    assert "more: --cursor " in limited.stderr
    cursor = limited.stderr.split("more: --cursor ", 1)[1].split()[0]
    rest = run_cli(rf_bin, server, "runs", "list", "--workflow", name, "--limit", "2", "--cursor", cursor,
                   "-o", "name")
    assert len(rest.stdout.split()) == 1
    bad = run_cli(rf_bin, server, "runs", "list", "--status", "sleepy")
    assert bad.returncode == 1 and "invalid_argument" in bad.stderr


def test_runs_watch_follows_a_delay_run_live_until_it_succeeds(rf_bin, server):
    name = unique("cli-watch")
    put_definition(server, name, delay_flow(1500))
    run_id = start_run(rf_bin, server, name, "--input", '{"name": "eve"}')
    r = run_cli(rf_bin, server, "runs", "watch", run_id)
    assert r.returncode == 0, r.stderr
    types = [l.split()[1] for l in r.stdout.splitlines()[:-1]]
    assert types[0] == "run.created"
    assert "run.waiting" in types and types[-1] == "run.succeeded"
    assert types.index("run.waiting") < types.index("run.succeeded")
    assert r.stdout.splitlines()[-1].startswith(f"run {run_id} succeeded in ")
    # The watch ended with the run, not before.
    assert api_get(server, f"/v1/runs/{run_id}")[1]["status"] == "succeeded"


def test_runs_watch_output_json_is_one_event_per_line(rf_bin, server):
    name = unique("cli-watch-json")
    put_definition(server, name, delay_flow(200))
    run_id = start_run(rf_bin, server, name)
    r = run_cli(rf_bin, server, "runs", "watch", run_id, "-o", "json")
    assert r.returncode == 0, r.stderr
    events = [json.loads(l) for l in r.stdout.splitlines()]
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    assert all(e["run"] == run_id for e in events)
    assert events[-1]["type"] == "run.succeeded"


def test_runs_watch_of_a_failed_run_exits_4(rf_bin, server):
    name = unique("cli-watch-fail")
    put_definition(server, name, failing_flow())
    run_id = start_run(rf_bin, server, name)
    r = run_cli(rf_bin, server, "runs", "watch", run_id)
    assert r.returncode == 4, (r.stdout, r.stderr)
    assert "step.failed" in r.stdout
    assert r.stdout.splitlines()[-1].startswith(f"run {run_id} failed")


def test_runs_watch_on_a_terminal_draws_a_live_progress_block(rf_bin, server):
    name = unique("cli-watch-tty")
    put_definition(server, name, delay_flow(1200))
    run_id = start_run(rf_bin, server, name)
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RINGFLOW_")}
    env.update({"LANG": "C.UTF-8", "TERM": "xterm"})
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([str(rf_bin), "--server", f"http://127.0.0.1:{server.port}", "runs", "watch", run_id],
                            stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + CLI_TIMEOUT
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    assert proc.wait(timeout=10) == 0, out.decode(errors="replace")
    text = out.decode(errors="replace")
    assert "\x1b[" in text  # redrawn in place, with colours
    assert "\u2713 greet" in text  # the step's symbol on a UTF-8 terminal
    assert "due in" in text  # the delay step's timer while it waited
    assert f"run {run_id} succeeded in " in text


def test_runs_cancel_then_cancel_again_is_a_conflict(rf_bin, server):
    name = unique("cli-cancel")
    put_definition(server, name, approval_flow())
    run_id = start_run(rf_bin, server, name)
    r = run_cli(rf_bin, server, "runs", "cancel", run_id)
    assert r.returncode == 0 and r.stdout.strip() == f"run {run_id} cancelled (status cancelled)"
    again = run_cli(rf_bin, server, "runs", "cancel", run_id, "-o", "json")
    assert again.returncode == 1
    assert "conflict" in again.stderr and "(HTTP 409)" in again.stderr
    assert json.loads(again.stdout)["error"]["code"] == "conflict"  # the server's JSON for scripts


def test_runs_signal_completes_an_approval_with_its_payload(rf_bin, server):
    name = unique("cli-signal")
    put_definition(server, name, approval_flow())
    run_id = start_run(rf_bin, server, name)
    wait_status(server, run_id, {"waiting"})
    r = run_cli(rf_bin, server, "runs", "signal", run_id, "ok", "--payload", '{"by": "me"}')
    assert r.returncode == 0, r.stderr
    assert f"run {run_id} signalled ok" in r.stdout
    run = wait_status(server, run_id, {"succeeded"})
    assert run["steps"][0]["output"] == {"by": "me"}
    unknown = run_cli(rf_bin, server, "runs", "signal", run_id, "nope")
    assert unknown.returncode == 1 and "(HTTP 404)" in unknown.stderr


def test_runs_retry_resumes_a_failed_run_and_refuses_a_succeeded_one(rf_bin, server):
    name = unique("cli-retry")
    put_definition(server, name, failing_flow())
    run_id = start_run(rf_bin, server, name)
    wait_status(server, run_id, {"failed"})
    r = run_cli(rf_bin, server, "runs", "retry", run_id, "-o", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["id"] == run_id
    run = wait_status(server, run_id, {"failed"})
    assert len(run["steps"][0]["attempts"]) == 2  # ran again, failed again
    ok = unique("cli-retry-ok")
    put_definition(server, ok, {"steps": [{"id": "s", "type": "noop"}]})
    done = start_run(rf_bin, server, ok)
    wait_status(server, done, {"succeeded"})
    refused = run_cli(rf_bin, server, "runs", "retry", done)
    assert refused.returncode == 1 and "(HTTP 409)" in refused.stderr


# --------------------------------------------------------------------------
# dead-letter
# --------------------------------------------------------------------------


def test_dead_letter_list_and_retry(rf_bin, server):
    name = unique("cli-dead")
    put_definition(server, name, failing_flow())
    ids = [start_run(rf_bin, server, name) for _ in range(2)]
    for i in ids:
        wait_status(server, i, {"failed"})
    table = run_cli(rf_bin, server, "dead-letter", "list", "--workflow", name)
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert lines[0].split()[:5] == ["ID", "WORKFLOW", "VERSION", "FINISHED", "STEP"]
    assert sorted(l.split()[0] for l in lines[1:]) == sorted(ids)
    assert all(" call " in l for l in lines[1:])
    listed = json.loads(run_cli(rf_bin, server, "dead-letter", "list", "--workflow", name, "-o", "json").stdout)
    assert sorted(r["id"] for r in listed["runs"]) == sorted(ids)
    one = run_cli(rf_bin, server, "dead-letter", "retry", ids[0])
    assert one.returncode == 0 and f"run {ids[0]} resumed" in one.stdout
    wait_status(server, ids[0], {"failed"})
    every = run_cli(rf_bin, server, "dead-letter", "retry", "--all", "--workflow", name, "-o", "json")
    assert every.returncode == 0, every.stderr
    assert sorted(r["id"] for r in json.loads(every.stdout)) == sorted(ids)
    for i in ids:
        run = wait_status(server, i, {"failed"})
        assert len(run["steps"][0]["attempts"]) >= 2
    neither = run_cli(rf_bin, server, "dead-letter", "retry")
    assert neither.returncode == 2


# --------------------------------------------------------------------------
# exit statuses, connection, usage
# --------------------------------------------------------------------------


def test_exit_1_for_404_with_the_servers_message(rf_bin, server):
    r = run_cli(rf_bin, server, "runs", "get", "00000000-0000-7000-8000-000000000000")
    assert r.returncode == 1
    assert r.stderr.startswith("ringflow: run_not_found: ") and "(HTTP 404)" in r.stderr
    assert r.stdout == ""


def test_exit_3_when_nothing_listens_or_the_daemon_does_not_answer(rf_bin, tmp_path):
    r = run_cli(rf_bin, f"http://127.0.0.1:{closed_port()}", "runs", "list")
    assert r.returncode == 3
    assert "cannot connect" in r.stderr and "refused" in r.stderr
    # A listener that accepts and never answers: the --timeout bounds the wait.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        r = run_cli(rf_bin, f"http://127.0.0.1:{port}", "--timeout", "500ms", "workflows", "list")
    assert r.returncode == 3 and "no answer" in r.stderr


@pytest.mark.parametrize("args,needle", [
    (["runs"], "needs a subcommand"),
    (["runs", "launch"], "unknown command 'runs launch'"),
    (["runs", "get"], "needs ID"),
    (["runs", "get", "a", "b"], "unexpected argument 'b'"),
    (["runs", "get", "x", "--bogus"], "unknown option --bogus"),
    (["runs", "get", "x", "--wait"], "does not take --wait"),
    (["runs", "list", "--output", "yaml"], "--output must be table, json or name"),
    (["runs", "list", "--limit"], "needs a value"),
    (["runs", "list", "--timeout", "soon"], "--timeout"),
    (["workflows", "list", "--server", "ftp://x"], "--server"),
])
def test_exit_2_for_bad_usage_before_any_request(rf_bin, args, needle):
    r = run_cli(rf_bin, f"http://127.0.0.1:{closed_port()}", *args)
    assert r.returncode == 2, (args, r.stderr)
    assert needle in r.stderr


def test_server_and_api_key_come_from_the_environment_and_flags_override(rf_bin):
    """A stand-in server records the request head; the daemon's auth is not needed for this."""
    seen: list[bytes] = []
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    port = lsock.getsockname()[1]

    def serve():
        for _ in range(2):
            conn, _ = lsock.accept()
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                seen.append(data)
                body = b'{"workflows":[]}'
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        env = {"RINGFLOW_SERVER": f"127.0.0.1:{port}", "RINGFLOW_API_KEY": "from-env"}
        assert run_cli(rf_bin, None, "workflows", "list", env=env).returncode == 0
        assert run_cli(rf_bin, None, "workflows", "list", "--api-key", "from-flag", env=env).returncode == 0
        t.join(timeout=10)
    finally:
        lsock.close()
    assert b"GET /v1/workflows HTTP/1.1\r\n" in seen[0]
    assert b"\r\nAuthorization: Bearer from-env\r\n" in seen[0]
    assert b"\r\nAuthorization: Bearer from-flag\r\n" in seen[1]


def test_the_daemon_help_names_the_client_commands_and_help_runs_lists_them(rf_bin):
    r = run_cli(rf_bin, None, "help", "runs")
    assert r.returncode == 0
    for verb in ("start", "get", "list", "watch", "cancel", "retry", "signal"):
        assert f"runs {verb}" in r.stdout
    assert "exit status: 0 ok; 1" in r.stdout
    assert "workflows apply" in run_cli(rf_bin, None, "--help").stdout


# --------------------------------------------------------------------------
# completion
# --------------------------------------------------------------------------


def test_completion_bash_is_valid_bash_and_completes_commands(rf_bin, server, tmp_path):
    r = run_cli(rf_bin, None, "completion", "bash")
    assert r.returncode == 0
    script = tmp_path / "ringflow.bash"
    script.write_text(r.stdout)
    check = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    name = unique("cli-complete")
    put_definition(server, name, approval_flow())

    def complete(*words):
        line = " ".join(shlex.quote(w) for w in words)
        probe = (f"source {script}; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; "
                 f"_ringflow; printf '%s\\n' \"${{COMPREPLY[@]}}\"")
        out = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=30,
                             env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        assert out.returncode == 0, out.stderr
        return out.stdout.split()

    assert complete(str(rf_bin), "ru") == ["runs"]
    assert set(complete(str(rf_bin), "runs", "")) == {"start", "get", "list", "watch", "cancel", "retry", "signal"}
    assert complete(str(rf_bin), "runs", "list", "--sta") == ["--status"]
    # Workflow names come from the daemon named by --server.
    assert name in complete(str(rf_bin), "--server", f"http://127.0.0.1:{server.port}", "runs", "start", "cli-complete")


# --------------------------------------------------------------------------
# cluster: a standby cannot stream a run it does not hold
# --------------------------------------------------------------------------


def test_runs_watch_through_a_standby_polls_the_run_until_it_finished(rf_bin, launch, pg):
    from test_forward import holder_and_standby
    import engine_client

    d1, d2 = holder_and_standby(launch, pg)
    engine_client.must_put(d1, "short", delay_flow(1000))
    engine_client.wait_until(lambda: api_get(d2, "/v1/workflows/short")[0] == 200, 10.0, 0.1,
                             "d2 knows the workflow made on d1")
    run_id = start_run(rf_bin, d2, "short")  # forwarded to the holder
    st, _ = api_get(d2, f"/v1/runs/{run_id}/events")
    assert st == 503  # the reason for the fallback: events are not forwarded
    r = run_cli(rf_bin, d2, "runs", "watch", run_id)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert r.stdout.splitlines()[-1].startswith(f"run {run_id} succeeded in ")
    assert api_get(d1, f"/v1/runs/{run_id}")[1]["status"] == "succeeded"


def test_the_client_commands_speak_https_with_a_private_ca(rf_bin, launch, certs, tmp_path):
    """An https:// --server: the daemon's certificate is verified against --ca-file (or
    RINGFLOW_CA_FILE, else the system bundle, which lacks the test CA); apply, start --wait and
    watch work over TLS (watch reads the event stream through the session)."""
    from test_http_tls import wait_tls_ready
    d = launch("--tls-cert", certs.server, "--tls-key", certs.server_key, ready=False)
    wait_tls_ready(d)
    url = f"https://127.0.0.1:{d.port}"
    spec = tmp_path / "tls-flow.json"
    spec.write_text(json.dumps({"name": "tls-flow", **delay_flow(300)}))
    r = run_cli(rf_bin, url, "--ca-file", certs.ca, "workflows", "apply", str(spec), "--yes")
    assert r.returncode == 0, r.stderr
    r = run_cli(rf_bin, url, "runs", "start", "tls-flow", "--wait", "--output", "json",
                env={"RINGFLOW_CA_FILE": certs.ca})
    assert r.returncode == 0 and json.loads(r.stdout)["status"] == "succeeded", (r.stdout, r.stderr)
    run_id = json.loads(run_cli(rf_bin, url, "--ca-file", certs.ca, "runs", "start", "tls-flow",
                                "--output", "json").stdout)["id"]
    r = run_cli(rf_bin, url, "--ca-file", certs.ca, "runs", "watch", run_id)
    assert r.returncode == 0 and "succeeded" in r.stdout, (r.stdout, r.stderr)
    # Not trusted: exit 3 with the reason; --ca-file with http:// is a usage error.
    r = run_cli(rf_bin, url, "workflows", "list")
    assert r.returncode == 3 and "certificate verify failed" in r.stderr, (r.returncode, r.stderr)
    r = run_cli(rf_bin, url, "--ca-file", certs.other, "workflows", "list")
    assert r.returncode == 3 and "certificate verify failed" in r.stderr, (r.returncode, r.stderr)
    r = run_cli(rf_bin, f"http://127.0.0.1:{d.port}", "--ca-file", certs.ca, "workflows", "list")
    assert r.returncode == 2 and "--ca-file" in r.stderr, (r.returncode, r.stderr)
