"""Command line, environment and config file."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

import pytest

from rfclient import Conn, free_port, get

KEYS = ["listen", "shards", "cpus", "max-body", "max-connections", "header-timeout",
        "idle-timeout", "body-timeout", "body-min-rate", "drain-timeout", "max-pipeline",
        "log-level", "access-log", "data-dir"]


def run(rf_bin, *args, env=None, cwd=None, timeout=10):
    """Run a short-lived ringflow command. If it unexpectedly starts serving, it is killed."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("RINGFLOW_")}
    e.update(env or {})
    try:
        return subprocess.run([str(rf_bin), *args], capture_output=True, text=True, env=e,
                              cwd=cwd, timeout=timeout)
    except subprocess.TimeoutExpired as ex:
        raise AssertionError(f"`ringflow {' '.join(args)}` still running after {timeout}s "
                             f"(stderr: {ex.stderr!r})") from None


def test_version(rf_bin, launch):
    p = run(rf_bin, "version")
    assert p.returncode == 0, p
    m = re.search(r"\d+\.\d+\.\d+", p.stdout)
    assert m, f"no version number in {p.stdout!r}"
    d = launch()
    assert get(d.port, "/health").json()["version"] == m.group(0)


def test_help(rf_bin):
    p = run(rf_bin, "--help")
    assert p.returncode == 0, p
    out = p.stdout + p.stderr
    for key in KEYS:
        assert key in out, f"--help does not mention {key}"


@pytest.mark.parametrize("key,value", [
    ("shards", "abc"), ("shards", "-1"), ("max-body", "12XB"), ("max-body", "-5"),
    ("max-connections", "0x"), ("header-timeout", "forever"), ("idle-timeout", "10parsecs"),
    ("drain-timeout", "-1s"), ("max-pipeline", "many"), ("log-level", "loud"),
    ("body-timeout", "1.5s"), ("body-timeout", "0"), ("body-min-rate", "fast"),
    ("access-log", "maybe"), ("listen", "not-an-address"), ("listen", "127.0.0.1:99999"),
    ("cpus", "banana"), ("pg-read-pool", "0"), ("pg-read-pool", "65"), ("pg-read-pool", "two"),
])
@pytest.mark.parametrize("form", ["flag=", "flag space", "env"])
def test_invalid_value_exits_2_naming_key(rf_bin, tmp_path, key, value, form):
    base = ["--data-dir", str(tmp_path / "data")]
    if key != "listen":
        base += ["--listen", f"127.0.0.1:{free_port()}"]
    env = {}
    if form == "flag=":
        args = ["serve", *base, f"--{key}={value}"]
    elif form == "flag space":
        args = ["serve", *base, f"--{key}", value]
    else:
        args = ["serve", *base]
        env[f"RINGFLOW_{key.upper().replace('-', '_')}"] = value
    p = run(rf_bin, *args, env=env, cwd=tmp_path, timeout=5)
    assert p.returncode == 2, f"exit {p.returncode} for {key}={value!r} ({form}); " \
                              f"stderr={p.stderr[-500:]!r}"
    assert key in p.stderr or key.upper().replace("-", "_") in p.stderr, \
        f"stderr does not name {key!r}: {p.stderr[-500:]!r}"


@pytest.mark.parametrize("value", ["10", "10s", "1500ms", "2m"])
def test_duration_flags_share_the_query_grammar(rf_bin, tmp_path, value):
    """One grammar for durations everywhere: a bare number is seconds, as in ?wait=10."""
    for args, env in [(["--idle-timeout", value], {}), ([f"--idle-timeout={value}"], {}),
                      ([], {"RINGFLOW_IDLE_TIMEOUT": value})]:
        p = run(rf_bin, "config", *args, env=env, cwd=tmp_path)
        assert p.returncode == 0, f"{args} {env}: {p.stderr}"
        line = next(ln for ln in p.stdout.splitlines() if ln.split()[:1] == ["idle-timeout"])
        assert line.split()[1] == value, line


def test_bare_number_idle_timeout_means_seconds(launch):
    d = launch("--idle-timeout", "2")  # refused before: exit 2
    with Conn(d.port, timeout=10.0) as c:
        c.request("GET", "/health/live")
        assert c.read_response().status == 200
        t0 = time.monotonic()
        closed, _ = c.wait_closed(8.0)
        elapsed = time.monotonic() - t0
    assert closed and 1.5 < elapsed < 5.0, f"closed={closed} after {elapsed:.2f}s (want ~2 s)"


def test_unknown_flag_exits_2(rf_bin, tmp_path):
    p = run(rf_bin, "serve", "--no-such-flag=1", cwd=tmp_path)
    assert p.returncode == 2, p
    assert "no-such-flag" in p.stderr, p.stderr


def test_invalid_value_in_config_file(rf_bin, tmp_path):
    cfg = tmp_path / "rf.conf"
    cfg.write_text("idle-timeout = soon\n")
    p = run(rf_bin, "serve", "--config", str(cfg), "--listen", f"127.0.0.1:{free_port()}",
            cwd=tmp_path)
    assert p.returncode == 2, p
    assert "idle-timeout" in p.stderr, p.stderr


SOURCES = ("default", "env", "flag", "file")


def _source_of(output: str, key: str) -> str:
    """Source of `key` in `ringflow config` output: JSON, or one line per key."""
    try:
        doc = json.loads(output)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and key in doc:
        v = doc[key]
        src = v.get("source") if isinstance(v, dict) else None
        assert src in SOURCES, f"{key}: {v!r}"
        return src
    if isinstance(doc, list):
        for item in doc:
            if isinstance(item, dict) and key in (item.get("key"), item.get("name")):
                assert item.get("source") in SOURCES, item
                return item["source"]
    lines = [ln for ln in output.splitlines()
             if re.search(rf"(^|[\s\"']){re.escape(key)}(?![\w-])", ln)]
    assert lines, f"`ringflow config` does not list {key}:\n{output}"
    found = {src for src in SOURCES if re.search(rf"\b{src}\b", lines[0])}
    assert len(found) == 1, f"cannot tell the source of {key} from {lines[0]!r}"
    return found.pop()


def test_config_shows_sources(rf_bin, tmp_path):
    cfg = tmp_path / "rf.conf"
    cfg.write_text("# comment\ndrain-timeout = 3s\nmax-pipeline = 8\n")
    p = run(rf_bin, "config", f"--config={cfg}", "--idle-timeout=5s",
            env={"RINGFLOW_MAX_BODY": "2MiB"}, cwd=tmp_path)
    assert p.returncode == 0, p
    out = p.stdout
    expected = {"max-body": "env", "idle-timeout": "flag", "drain-timeout": "file",
                "max-pipeline": "file", "log-level": "default", "listen": "default",
                "header-timeout": "default", "max-connections": "default"}
    got = {k: _source_of(out, k) for k in expected}
    assert got == expected, f"sources differ:\n{out}"
    for key in KEYS:
        _source_of(out, key)


def test_env_listen_is_honoured(launch):
    port = free_port()
    d = launch(listen=False, serve=False, ready=False,
               env={"RINGFLOW_LISTEN": f"127.0.0.1:{port}"})
    d.port = port
    d.wait_ready(10.0)
    assert get(port, "/health").json()["status"] == "ok"


def test_config_file_listen_and_shards(launch, tmp_path):
    port = free_port()
    cfg = tmp_path / "serve.conf"
    cfg.write_text(f"listen = 127.0.0.1:{port}\nshards = 1\n")
    d = launch("--config", str(cfg), listen=False, ready=False, shards=None)
    d.port = port
    d.wait_ready(10.0)
    assert get(port, "/health").json()["shards"] == 1


def test_env_max_body_and_shards(launch):
    d = launch(env={"RINGFLOW_MAX_BODY": "16"}, shards=1)
    assert get(d.port, "/health").json()["shards"] == 1
    r = get(d.port, "/health", method="POST", body=b"x" * 17)
    assert r.status == 413, f"RINGFLOW_MAX_BODY=16 not applied: {r!r}"


def test_listen_hostname_serves_or_is_rejected_with_2(rf_bin, launch, tmp_path):
    """listen is host:port. `localhost` must either work or be refused as an invalid value
    (exit 2 naming the key) - never accepted by `config` and then fail at bind time."""
    port = free_port()
    p = run(rf_bin, "config", f"--listen=localhost:{port}", cwd=tmp_path)
    if p.returncode == 2:
        assert "listen" in p.stderr, p.stderr
        return
    assert p.returncode == 0, p
    d = launch(f"--listen=localhost:{port}", listen=False, ready=False)
    d.port = port
    d.wait_ready(10.0)
    assert get(port, "/health").status == 200


def test_precedence_file_env_flag(rf_bin, tmp_path):
    """--help documents default < file < env < flag."""
    cfg = tmp_path / "p.conf"
    cfg.write_text("max-body = 2MiB\nidle-timeout = 7s\nheader-timeout = 3s\n")
    p = run(rf_bin, "config", f"--config={cfg}", "--max-body=4MiB",
            env={"RINGFLOW_MAX_BODY": "3MiB", "RINGFLOW_IDLE_TIMEOUT": "8s"}, cwd=tmp_path)
    assert p.returncode == 0, p
    got = {k: _source_of(p.stdout, k) for k in ("max-body", "idle-timeout", "header-timeout")}
    assert got == {"max-body": "flag", "idle-timeout": "env", "header-timeout": "file"}, p.stdout
    assert re.search(r"^max-body\b.*\b4MiB\b", p.stdout, re.M), p.stdout


def test_config_path_from_env(launch, tmp_path):
    port = free_port()
    cfg = tmp_path / "env.conf"
    cfg.write_text(f"listen = 127.0.0.1:{port}\n")
    d = launch(listen=False, ready=False, env={"RINGFLOW_CONFIG": str(cfg)})
    d.port = port
    d.wait_ready(10.0)


def test_unknown_key_in_config_file_exits_2(rf_bin, tmp_path):
    cfg = tmp_path / "bad.conf"
    cfg.write_text("bogus-key = 1\n")
    p = run(rf_bin, "serve", "--config", str(cfg), "--listen", f"127.0.0.1:{free_port()}",
            cwd=tmp_path, timeout=5)
    assert p.returncode == 2, p
    assert "bogus-key" in p.stderr, p.stderr


def test_shards_0_follows_affinity_mask(launch):
    d = launch("--shards", "0", shards=None, affinity={0})
    assert get(d.port, "/health").json()["shards"] == 1


def test_access_log_lines(launch):
    d = launch("--access-log", "true")
    get(d.port, "/health/live?probe=access")
    deadline = time.monotonic() + 5
    while True:
        recs = [r for r in d.log_records() if "/health/live" in str(r) and "200" in str(r)]
        if recs or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert recs, f"no JSON access-log line for the request:\n{d.log_tail()}"
    assert all("_unparsed" not in r for r in d.log_records())


def test_no_access_log_by_default(launch):
    d = launch()
    get(d.port, "/health/live?probe=access")
    time.sleep(0.3)
    assert "probe=access" not in d.log_text(), d.log_tail()


def test_log_level_warn_hides_info(launch):
    d = launch("--log-level", "warn")
    get(d.port, "/health")
    d.stop()
    levels = {r.get("level") for r in d.log_records()}
    assert levels <= {"warn", "error"}, f"levels logged with --log-level warn: {levels}"


def test_cpus_pins_shards(launch):
    d = launch("--cpus", "1", "--shards", "0", shards=None)
    assert get(d.port, "/health").json()["shards"] == 1
    tids = [int(t) for t in os.listdir(f"/proc/{d.pid}/task")]
    masks = []
    for tid in tids:
        try:
            masks.append(os.sched_getaffinity(tid))
        except OSError:
            pass
    assert {1} in masks, f"no thread pinned to CPU 1 with --cpus 1: {masks}"
