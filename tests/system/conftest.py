"""Fixtures for the ringflow HTTP system tests.

Binary: $RINGFLOW_BIN, default build/release/src/app/ringflow (repo-relative).
If it is missing, every test that needs it fails (not skips) with a clear message.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import rfclient  # noqa: E402
from engine_fixtures import flaky  # noqa: E402,F401  (engine /v1 tests)
from pg_fixtures import pg  # noqa: E402,F401  (PostgreSQL store tests)

_counter = itertools.count()


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


class Launcher:
    """Starts daemons and remembers them so they are all stopped and checked."""

    def __init__(self, rf_bin: Path, base: Path):
        self.rf_bin = rf_bin
        self.base = base
        self.daemons: list[rfclient.Daemon] = []

    def start(self, *extra: str, env: dict | None = None, shards: int | None = 2,
              listen: bool = True,
              ready: bool = True, serve: bool = True,
              affinity: set[int] | None = None, nofile: int | None = None) -> rfclient.Daemon:
        port = rfclient.free_port()
        workdir = self.base / f"rf{next(_counter)}"
        args = ["serve"] if serve else []
        if listen:
            args += ["--listen", f"127.0.0.1:{port}"]
        if shards is not None:
            args += ["--shards", str(shards)]
        args += ["--data-dir", str(workdir / "data"), *extra]
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


@pytest.fixture
def launch(rf_bin, tmp_path):
    """Factory: launch('--header-timeout', '500ms') -> ready Daemon, stopped at teardown."""
    la = Launcher(rf_bin, tmp_path)
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
def _shared(rf_bin, tmp_path_factory):
    la = Launcher(rf_bin, tmp_path_factory.mktemp("shared"))
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
