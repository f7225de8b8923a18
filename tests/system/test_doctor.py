"""`ringflow doctor`: a table of host checks; exit 0 healthy, 1 with findings."""

from __future__ import annotations

import socket
import subprocess
import time

from rfclient import free_port


def _doctor(rf_bin, proc_sys, *args):
    env = {"RINGFLOW_PROC_SYS": str(proc_sys), "PATH": "/usr/bin:/bin"}
    return subprocess.run([str(rf_bin), "doctor", "--listen", "127.0.0.1:0", *args],
                          capture_output=True, text=True, env=env, timeout=30)


def _fake_proc_sys(root, somaxconn: int, syn_backlog: int):
    for key, value in {"net/core/somaxconn": somaxconn,
                       "net/ipv4/tcp_max_syn_backlog": syn_backlog,
                       "fs/file-max": 9000000,
                       "kernel/io_uring_disabled": 0}.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{value}\n")
    return root


def test_doctor_reports_each_area(rf_bin, tmp_path):
    r = _doctor(rf_bin, _fake_proc_sys(tmp_path / "sys", 65535, 65535),
                "--data-dir", str(tmp_path / "data"))
    for needle in ("kernel", "io_uring setup", "io_uring ops", "numa", "shards",
                   "RLIMIT_NOFILE", "net/core/somaxconn", "listen 127.0.0.1:0", "store embedded"):
        assert needle in r.stdout, (needle, r.stdout)
    assert r.returncode in (0, 1)
    assert f"{r.stdout.count('FINDING')} finding(s)" in r.stdout


def test_doctor_flags_a_low_somaxconn(rf_bin, tmp_path):
    r = _doctor(rf_bin, _fake_proc_sys(tmp_path / "sys", 128, 65535))
    assert r.returncode == 1
    line = next(l for l in r.stdout.splitlines() if l.startswith("net/core/somaxconn"))
    assert "128" in line and "FINDING" in line


def test_doctor_flags_an_unwritable_data_dir(rf_bin, tmp_path):
    target = tmp_path / "file-not-dir"
    target.write_text("x")
    r = _doctor(rf_bin, _fake_proc_sys(tmp_path / "sys", 65535, 65535), "--data-dir", str(target))
    assert r.returncode == 1
    line = next(l for l in r.stdout.splitlines() if l.startswith("store embedded"))
    assert "FINDING" in line


def _redis_line(stdout: str) -> str:
    return next(l for l in stdout.splitlines() if l.startswith("redis"))


def test_doctor_says_when_redis_is_not_configured(rf_bin, tmp_path):
    r = _doctor(rf_bin, _fake_proc_sys(tmp_path / "sys", 65535, 65535))
    line = _redis_line(r.stdout)
    assert "not configured" in line and line.endswith("info"), line


def test_doctor_pings_a_reachable_redis(rf_bin, tmp_path, redis_server):
    r = _doctor(rf_bin, _fake_proc_sys(tmp_path / "sys", 65535, 65535),
                "--redis-url", redis_server.url + "/2")
    line = _redis_line(r.stdout)
    assert line.startswith(f"redis 127.0.0.1:{redis_server.port} "), line
    assert "PONG in" in line and line.endswith(" ok"), line
    assert "FINDING" not in line


def test_doctor_reads_REDIS_URL_and_resolves_names(rf_bin, tmp_path, redis_server):
    env_url = f"redis://localhost:{redis_server.port}"
    env = {"RINGFLOW_PROC_SYS": str(_fake_proc_sys(tmp_path / "sys", 65535, 65535)),
           "PATH": "/usr/bin:/bin", "REDIS_URL": env_url}
    r = subprocess.run([str(rf_bin), "doctor", "--listen", "127.0.0.1:0"],
                       capture_output=True, text=True, env=env, timeout=30)
    line = _redis_line(r.stdout)
    assert line.startswith(f"redis localhost:{redis_server.port} ") and line.endswith(" ok"), line


def test_doctor_flags_an_unreachable_redis(rf_bin, tmp_path):
    port = free_port()  # nobody listens there
    r = _doctor(rf_bin, _fake_proc_sys(tmp_path / "sys", 65535, 65535),
                "--redis-url", f"redis://127.0.0.1:{port}")
    assert r.returncode == 1
    line = _redis_line(r.stdout)
    assert "Connection refused" in line and line.endswith("FINDING"), line


def test_doctor_flags_a_refused_redis_password_without_printing_it(rf_bin, tmp_path,
                                                                   redis_server):
    r = _doctor(rf_bin, _fake_proc_sys(tmp_path / "sys", 65535, 65535),
                "--redis-url", f"redis://ringflow:Hunter2x@127.0.0.1:{redis_server.port}")
    assert r.returncode == 1
    line = _redis_line(r.stdout)
    assert "WRONGPASS" in line and line.endswith("FINDING"), line
    assert "Hunter2x" not in r.stdout + r.stderr


def test_doctor_bounds_a_redis_that_never_answers(rf_bin, tmp_path):
    with socket.socket() as silent:  # accepts TCP (the backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        start = time.monotonic()
        r = _doctor(rf_bin, _fake_proc_sys(tmp_path / "sys", 65535, 65535),
                    "--redis-url", f"redis://127.0.0.1:{port}")
        took = time.monotonic() - start
    assert r.returncode == 1
    line = _redis_line(r.stdout)
    assert "no reply by the deadline" in line and line.endswith("FINDING"), line
    assert took < 10, f"doctor took {took:.1f}s against a silent Redis"


def _line(stdout: str, prefix: str) -> str:
    lines = [ln for ln in stdout.splitlines() if ln.startswith(prefix)]
    assert len(lines) == 1, stdout
    return lines[0].rstrip()


def test_doctor_checks_a_reachable_postgres_and_its_schema(rf_bin, tmp_path, pg):
    name = f"rf_doctor_{int(time.time() * 1000) % 10**8}"
    pg.psql(f"CREATE DATABASE {name};")
    url = pg.url.rsplit("/", 1)[0] + "/" + name
    args = ("--data-dir", str(tmp_path / "data"), "--store", "postgres", "--database-url", url)
    sys_dir = _fake_proc_sys(tmp_path / "sys", 65535, 65535)
    r = _doctor(rf_bin, sys_dir, *args)
    line = _line(r.stdout, "store postgres")
    assert "schema 0 of " in line and line.endswith("FINDING"), line  # not migrated yet
    up = subprocess.run([str(rf_bin), "migrate", "up", "--database-url", url],
                        capture_output=True, text=True, timeout=60)
    assert up.returncode == 0, up
    r = _doctor(rf_bin, sys_dir, *args)
    line = _line(r.stdout, "store postgres")
    known = line.split("schema ")[1].split(" of ")[1].split(",")[0]
    assert f"schema {known} of {known}" in line and line.endswith("ok"), line


def test_doctor_flags_an_unreachable_postgres(rf_bin, tmp_path):
    port = free_port()  # nobody listens there
    r = _doctor(rf_bin, _fake_proc_sys(tmp_path / "sys", 65535, 65535),
                "--store", "postgres", "--database-url", f"postgresql://x@127.0.0.1:{port}/x")
    assert r.returncode == 1
    line = _line(r.stdout, "store postgres")
    assert line.endswith("FINDING"), line
