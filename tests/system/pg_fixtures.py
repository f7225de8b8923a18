"""A private PostgreSQL cluster for the system tests; conftest.py imports the fixture.

* ``pg`` (session): a cluster started by ``tools/pg.sh start`` in a fresh directory under
  /tmp (not pytest's tmp_path: as root, pg.sh runs the server as the ``postgres`` user, who
  cannot enter /tmp/pytest-of-root). It yields a :class:`PgCluster`; at the end of the
  session it is stopped by PID (``tools/pg.sh stop``) and its directory removed.

The cluster runs with ``PG_FAST=1`` (fsync off) unless PG_FAST is set in the environment:
the tests restart PostgreSQL and kill ringflow, never the machine. The benchmark starts its
own cluster with durability on.

Without the PostgreSQL server binaries the fixture skips, with the reason, when the tests
are run by hand; with RINGFLOW_REQUIRE_PG=1 (CI) it fails instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PG_SH = REPO / "tools" / "pg.sh"


class PgError(AssertionError):
    """A pg.sh or psql command failed; the message carries its output."""


def _run(args: list[str], *, input: str | None = None, timeout: float = 120.0,
         env: dict | None = None) -> str:
    try:
        p = subprocess.run(args, input=input, capture_output=True, text=True, timeout=timeout,
                           env=env)
    except subprocess.TimeoutExpired as e:
        raise PgError(f"{' '.join(args)}: no answer within {timeout}s") from e
    if p.returncode != 0:
        raise PgError(f"{' '.join(args)}: exit {p.returncode}\n{p.stderr.strip()}")
    return p.stdout


def pg_bindir() -> Path | None:
    """The PostgreSQL server binaries pg.sh would use, or None when there are none."""
    p = subprocess.run([str(PG_SH), "bindir"], capture_output=True, text=True)
    return Path(p.stdout.strip()) if p.returncode == 0 else None


class PgCluster:
    """One private cluster in `dir`: started, stopped and restarted through tools/pg.sh."""

    def __init__(self, dir: Path, bindir: Path):
        self.dir = dir
        self.bindir = bindir
        self.env = dict(os.environ)
        self.env.setdefault("PG_FAST", "1")

    @property
    def url(self) -> str:
        """libpq URI: postgresql://ringflow@127.0.0.1:PORT/ringflow"""
        return (self.dir / "url").read_text().strip()

    @property
    def port(self) -> int:
        return int((self.dir / "port").read_text())

    @property
    def pid(self) -> int | None:
        """The postmaster's PID while it runs (pg.sh removes the file at stop)."""
        f = self.dir / "pg.pid"
        return int(f.read_text()) if f.is_file() else None

    def start(self) -> str:
        """Starts the cluster (creating it the first time) and waits until it accepts
        connections; a restart keeps the data and the port. Returns the URL."""
        return _run([str(PG_SH), "start", str(self.dir)], env=self.env).strip()

    def stop(self) -> None:
        """Stops the postmaster by its PID (fast shutdown, then signals if needed)."""
        _run([str(PG_SH), "stop", str(self.dir)], env=self.env)

    def restart(self) -> None:
        port = self.port
        self.stop()
        self.start()
        assert self.port == port, f"the cluster came back on port {self.port}, not {port}"

    def psql(self, sql: str, *, db: str | None = None, timeout: float = 60.0) -> str:
        """Runs `sql` (any number of statements, stopping at the first error) and returns
        the unaligned, tuples-only output: one row per line, columns separated by '|'."""
        url = self.url if db is None else self.url.rsplit("/", 1)[0] + "/" + db
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["PGCONNECT_TIMEOUT"] = "10"
        return _run([str(self.bindir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                     "-d", url, "-f", "-"], input=sql, timeout=timeout, env=env)


@pytest.fixture(scope="session")
def pg():
    """The session's private PostgreSQL cluster (PgCluster)."""
    bindir = pg_bindir()
    if bindir is None:
        reason = ("PostgreSQL server binaries (initdb, pg_ctl) not found: run tools/setup.sh "
                  "or set PG_BIN")
        if os.environ.get("RINGFLOW_REQUIRE_PG") == "1":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    cluster = PgCluster(Path(tempfile.mkdtemp(prefix="rf-pg-")), bindir)
    try:
        cluster.start()
    except PgError as e:
        _discard(cluster)
        pytest.fail(f"could not start PostgreSQL in {cluster.dir}: {e}", pytrace=False)
    try:
        yield cluster
    finally:
        _discard(cluster)


def _discard(cluster: PgCluster) -> None:
    # Stop first: removing the files under a running postmaster would leave it orphaned.
    # If it will not stop, this raises and the directory stays for a post-mortem.
    cluster.stop()
    shutil.rmtree(cluster.dir, ignore_errors=True)
