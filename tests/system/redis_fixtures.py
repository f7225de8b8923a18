"""A private Redis server for the system tests; conftest.py imports the fixture.

* ``redis_server`` (session): a redis-server started by ``tools/redis.sh start`` on 127.0.0.1
  (a free port) in a fresh directory under /tmp, stopped by PID (``tools/redis.sh stop``) and
  its directory removed at the end of the session. It yields a :class:`RedisServer`.
* ``own_redis`` (one test): the same, for a test that stops and starts its Redis (outages).

tools/setup.sh installs redis-server; without it the tests that use the fixture fail and say
so (they do not skip: CI must run them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REDIS_SH = REPO / "tools" / "redis.sh"


class RedisServer:
    def __init__(self, dir: Path, env: dict | None = None):
        """env: added to tools/redis.sh's environment (REDIS_TLS_CERT/KEY: a TLS port too)."""
        self.dir = dir
        self.env = {**os.environ, **(env or {})}

    def _sh(self, verb: str) -> str:
        p = subprocess.run([str(REDIS_SH), verb, str(self.dir)], capture_output=True, text=True,
                           timeout=60, env=self.env)
        if p.returncode != 0:
            raise AssertionError(f"tools/redis.sh {verb}: exit {p.returncode}\n{p.stderr.strip()}")
        return p.stdout.strip()

    @property
    def url(self) -> str:
        """redis://127.0.0.1:PORT"""
        return (self.dir / "url").read_text().strip()

    @property
    def port(self) -> int:
        return int((self.dir / "port").read_text())

    def start(self) -> str:
        return self._sh("start")

    def stop(self) -> None:
        self._sh("stop")

    def cli(self, *args: str) -> str:
        """One command through redis-cli; its output."""
        p = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), *args],
                           capture_output=True, text=True, timeout=30)
        if p.returncode != 0:
            raise AssertionError(f"redis-cli {' '.join(args)}: exit {p.returncode}\n{p.stderr}")
        return p.stdout.strip()


def _private_redis(prefix: str):
    """Starts a RedisServer in a fresh directory under /tmp, yields it, then stops it (by PID)
    and removes the directory, even if the test stopped it already."""
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server not found: run tools/setup.sh (it installs redis-server)",
                    pytrace=False)
    server = RedisServer(Path(tempfile.mkdtemp(prefix=prefix)))
    try:
        server.start()
    except AssertionError as e:
        shutil.rmtree(server.dir, ignore_errors=True)
        pytest.fail(f"could not start Redis in {server.dir}: {e}", pytrace=False)
    try:
        yield server
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(server.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server():
    """The session's private Redis server (RedisServer)."""
    yield from _private_redis("rf-redis-")


@pytest.fixture
def own_redis():
    """A Redis server of the calling test alone, which it may stop and start again."""
    yield from _private_redis("rf-redis-own-")
