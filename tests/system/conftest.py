"""Fixtures for the ringflow HTTP system tests.

Binary: $RINGFLOW_BIN, default build/release/src/app/ringflow (repo-relative).
If it is missing, every test that needs it fails (not skips) with a clear message.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import rfclient  # noqa: E402
from engine_fixtures import flaky  # noqa: E402,F401  (engine /v1 tests)
from pg_fixtures import pg  # noqa: E402,F401  (PostgreSQL store tests)
from redis_fixtures import own_redis, redis_server  # noqa: E402,F401  (Redis: doctor, config, outages)

_counter = itertools.count()

# What the daemons under test may call besides public addresses: the local servers of the tests.
LOCAL_EGRESS = "127.0.0.1"


def pytest_configure(config):
    # The daemon inherits this limit, so raise it before anything starts.
    rfclient.raise_nofile()


@pytest.fixture(scope="session")
def rf_bin() -> Path:
    path = rfclient.binary_path()
    if not path.is_file():
        pytest.fail(f"ringflow binary not found at {path} - build it (meson setup build/release "
                    f"&& ninja -C build/release) or point RINGFLOW_BIN at it", pytrace=False)
    return path


def store_under_test() -> str:
    """The engine store the daemons under test use: RINGFLOW_TEST_STORE=postgres runs the
    suite against PostgreSQL (tools/test.sh does, for the engine tests), default embedded."""
    return os.environ.get("RINGFLOW_TEST_STORE", "embedded")


class Launcher:
    """Starts daemons and remembers them so they are all stopped and checked.

    With RINGFLOW_TEST_STORE=postgres every `serve` gets --store postgres and a database of
    its own, named after its --data-dir: a daemon relaunched on the same data dir (the
    restart and crash tests) finds the same database, as it would find the same journal."""

    def __init__(self, rf_bin: Path, base: Path, pg_cluster=None):
        self.rf_bin = rf_bin
        self.base = base
        self.pg = pg_cluster
        self.daemons: list[rfclient.Daemon] = []

    def _postgres_args(self, args: list[str]) -> list[str]:
        dirs = [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--data-dir"]
        db = "rf_" + hashlib.sha1(dirs[-1].encode()).hexdigest()[:16]
        exists = self.pg.psql(f"SELECT 1 FROM pg_database WHERE datname = '{db}';").strip()
        if not exists:
            self.pg.psql(f"CREATE DATABASE {db};")
        url = self.pg.url.rsplit("/", 1)[0] + "/" + db
        return ["--store", "postgres", "--database-url", url, "--migrate", "true"]

    def start(self, *extra: str, env: dict | None = None, shards: int | None = 2,
              listen: bool = True,
              ready: bool = True, serve: bool = True,
              affinity: set[int] | None = None, nofile: int | None = None,
              egress_allow: str | None = LOCAL_EGRESS) -> rfclient.Daemon:
        """egress_allow: the --egress-allow given unless `extra` or `env` sets one. The default
        admits the local servers the tests run (flaky_server.py on 127.0.0.1), which the
        daemon's default egress policy denies; None starts the daemon with that default."""
        port = rfclient.free_port()
        workdir = self.base / f"rf{next(_counter)}"
        args = ["serve"] if serve else []
        if listen:
            args += ["--listen", f"127.0.0.1:{port}"]
        if shards is not None:
            args += ["--shards", str(shards)]
        args += ["--data-dir", str(workdir / "data"), *extra]
        own_egress = any(a == "--egress-allow" or a.startswith("--egress-allow=") for a in extra)
        if egress_allow is not None and not own_egress and "RINGFLOW_EGRESS_ALLOW" not in (env or {}):
            args += ["--egress-allow", egress_allow]
        if serve and self.pg is not None and "--store" not in args:
            args += self._postgres_args(args)
        d = rfclient.Daemon(self.rf_bin, workdir, args, port, env=dict(env or {}),
                            affinity=affinity, nofile=nofile)
        self.daemons.append(d)
        d.start()
        if ready:
            d.wait_ready(10.0)
        return d

    def stop_all(self) -> list[str]:
        problems = []
        for d in self.daemons:
            d.stop()
            report = d.crash_report()
            if report:
                problems.append(report)
        self.daemons.clear()
        return problems


def _store_cluster(request):
    return request.getfixturevalue("pg") if store_under_test() == "postgres" else None


@pytest.fixture
def launch(rf_bin, tmp_path, request):
    """Factory: launch('--header-timeout', '500ms') -> ready Daemon, stopped at teardown."""
    la = Launcher(rf_bin, tmp_path, _store_cluster(request))
    yield la.start
    problems = la.stop_all()
    assert not problems, "\n\n".join(problems)


class _Shared:
    """One default daemon per test module, restarted if a test killed it."""

    def __init__(self, launcher: Launcher):
        self.launcher = launcher
        self.daemon: rfclient.Daemon | None = None

    def get(self) -> rfclient.Daemon:
        if self.daemon is None or not self.daemon.alive():
            self.daemon = self.launcher.start()
        return self.daemon


@pytest.fixture(scope="module")
def _shared(rf_bin, tmp_path_factory, request):
    la = Launcher(rf_bin, tmp_path_factory.mktemp("shared"), _store_cluster(request))
    sh = _Shared(la)
    yield sh
    problems = la.stop_all()
    assert not problems, "\n\n".join(problems)


@pytest.fixture
def server(_shared) -> rfclient.Daemon:
    """The module's default daemon (--shards 2). Fails the test if the daemon died during it."""
    d = _shared.get()
    yield d
    if not d.alive():
        pytest.fail(f"ringflow died during this test (exit {d.proc.returncode})\n"
                    f"stderr tail:\n{d.log_tail()}", pytrace=False)


@pytest.fixture
def short_header_timeout(launch):
    return launch("--header-timeout", "500ms")


@pytest.fixture
def short_idle_timeout(launch):
    return launch("--idle-timeout", "1s")


@pytest.fixture
def small_max_connections(launch):
    return launch("--max-connections", "4")


@pytest.fixture
def small_max_body(launch):
    return launch("--max-body", "1KiB")
