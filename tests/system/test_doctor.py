"""`ringflow doctor`: a table of host checks; exit 0 healthy, 1 with findings."""

from __future__ import annotations

import subprocess


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
