"""--redis-url / RINGFLOW_REDIS_URL / REDIS_URL: every malformed URL exits 2 with a message that
names the key and says what is wrong, and never echoes a password; a good one is accepted and
shown redacted by `ringflow config`."""

from __future__ import annotations

import pytest

from rfclient import free_port
from test_http_config import run

BAD = [
    ("localhost:6379", "expected redis://"),
    ("redis:/127.0.0.1", "(rediss:// for TLS)"),
    ("http://127.0.0.1:6379", "expected redis://"),
    ("rediss://", "missing host"),
    ("unix:///run/redis.sock", "unix sockets are not supported"),
    ("redis://", "missing host"),
    ("redis://:6379", "missing host"),
    ("redis://127.0.0.1:", "empty port"),
    ("redis://127.0.0.1:0", "must be a number 1-65535"),
    ("redis://127.0.0.1:65536", "must be a number 1-65535"),
    ("redis://127.0.0.1:port", "must be a number 1-65535"),
    ("redis://127.0.0.1/x", "database 'x' must be a number"),
    ("redis://127.0.0.1/-1", "must be a number 0-2147483647"),
    ("redis://127.0.0.1/1/2", "unexpected path after the database number"),
    ("redis://127.0.0.1?db=1", "query parameters"),
    ("redis://user@127.0.0.1", "a user name needs a password"),
    ("redis://u:Sw0rd%zz@127.0.0.1", "bad percent-encoding in the password"),
    ("redis://u:Sw0rd@x@127.0.0.1", "percent-encode '@'"),
    ("redis://::1:6379", "IPv6 addresses go in brackets"),
    ("redis://[::1:6379", "unterminated '['"),
    ("redis://[not-v6]:6379", "is not an IPv6 address"),
    ("redis://bad host", "invalid character ' ' in the host"),
]


@pytest.mark.parametrize("url,why", BAD)
@pytest.mark.parametrize("form", ["flag", "env", "REDIS_URL"])
def test_malformed_redis_url_exits_2_saying_why(rf_bin, tmp_path, url, why, form):
    args = ["serve", "--data-dir", str(tmp_path / "data"), "--listen", f"127.0.0.1:{free_port()}"]
    env = {}
    if form == "flag":
        args += ["--redis-url", url]
    elif form == "env":
        env["RINGFLOW_REDIS_URL"] = url
    else:
        env["REDIS_URL"] = url
    p = run(rf_bin, *args, env=env, cwd=tmp_path, timeout=5)
    assert p.returncode == 2, f"exit {p.returncode} for {url!r} ({form}); stderr={p.stderr!r}"
    assert "for redis-url:" in p.stderr, p.stderr
    assert why in p.stderr, f"{why!r} not in {p.stderr!r}"
    assert "Sw0rd" not in p.stderr, f"password echoed: {p.stderr!r}"
    origin = {"flag": "(from flag)", "env": "(from env:RINGFLOW_REDIS_URL)",
              "REDIS_URL": "(from env:REDIS_URL)"}[form]
    assert origin in p.stderr, p.stderr


def test_good_redis_url_is_shown_redacted_with_its_source(rf_bin, tmp_path):
    p = run(rf_bin, "config", env={"REDIS_URL": "redis://ringflow:Sw0rd@10.0.0.5:6380/3"},
            cwd=tmp_path)
    assert p.returncode == 0, p
    line = next(l for l in p.stdout.splitlines() if l.startswith("redis-url"))
    assert "redis://***@10.0.0.5:6380/3" in line and "env:REDIS_URL" in line, line
    assert "Sw0rd" not in p.stdout
    # RINGFLOW_REDIS_URL wins over REDIS_URL, the flag over both.
    p = run(rf_bin, "config", "--redis-url", "redis://c", cwd=tmp_path,
            env={"REDIS_URL": "redis://a", "RINGFLOW_REDIS_URL": "redis://b"})
    line = next(l for l in p.stdout.splitlines() if l.startswith("redis-url"))
    assert "redis://c" in line and "flag" in line, line
    p = run(rf_bin, "config", cwd=tmp_path,
            env={"REDIS_URL": "redis://a", "RINGFLOW_REDIS_URL": "redis://b"})
    line = next(l for l in p.stdout.splitlines() if l.startswith("redis-url"))
    assert "redis://b" in line and "env:RINGFLOW_REDIS_URL" in line, line


def test_help_documents_redis_url(rf_bin):
    p = run(rf_bin, "--help")
    assert p.returncode == 0
    assert "--redis-url" in p.stdout and "REDIS_URL" in p.stdout
