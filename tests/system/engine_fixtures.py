"""Fixtures for the engine (/v1) system tests; conftest.py imports them.

* ``flaky``: a started FlakyServer (flaky_server.py) on 127.0.0.1, stopped at
  teardown; the test fails if a handler raised unexpectedly or a connection
  thread did not finish. The daemon's default egress policy denies loopback:
  the launcher (conftest.py) starts every daemon with ``--egress-allow
  127.0.0.1`` unless a test asks otherwise (``egress_allow=None``).
"""

from __future__ import annotations

import pytest

from flaky_server import FlakyServer


@pytest.fixture
def flaky():
    srv = FlakyServer().start()
    try:
        yield srv
    finally:
        problems = srv.stop()
    problems += srv.errors
    assert not problems, "flaky server problems:\n" + "\n".join(problems)
