"""Graceful shutdown: drain in-flight requests, readiness, second signal."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time

import pytest

from rfclient import HOST, Conn, assert_json_error, get

SLOW_POST_HEAD = b"POST /health/live HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n"


def _start_slow_post(port: int) -> Conn:
    """A request in flight: headers complete, 5 of 10 body bytes sent."""
    c = Conn(port, timeout=10.0)
    c.send(SLOW_POST_HEAD + b"12345")
    time.sleep(0.3)  # let the server read it
    assert not c.readable_within(0), "server answered a request whose body is incomplete"
    return c


def _listener_refuses(port: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((HOST, port), timeout=1.0):
                pass
        except ConnectionRefusedError:
            return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_drains_in_flight_request_and_exits_0(launch, sig):
    d = launch("--drain-timeout", "5s")
    c = _start_slow_post(d.port)
    d.signal(sig)
    time.sleep(0.3)
    assert d.alive(), f"exited before the in-flight request finished:\n{d.log_tail()}"
    assert _listener_refuses(d.port, 3.0), "listener still accepting after the signal"
    assert d.alive(), "exited while a request was still in flight"
    c.send(b"67890")
    r = c.read_response(timeout=5.0)
    assert_json_error(r, 405)  # /health/live is GET-only; the point is that it was answered
    assert "close" in r.connection_tokens(), f"response during drain needs Connection: close: {r!r}"
    closed, _ = c.wait_closed(3.0)
    assert closed
    c.close()
    rc = d.wait(10.0)
    assert rc is not None, "did not exit within drain-timeout after the last request finished"
    assert rc == 0, f"exit code {rc} after graceful drain\n{d.log_tail()}"


def test_ready_is_503_during_drain(launch):
    d = launch("--drain-timeout", "5s")
    c = Conn(d.port, timeout=10.0)
    # headers complete, body pending: in flight, routed to /health/ready once complete
    c.send(b"GET /health/ready HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\na")
    time.sleep(0.3)
    d.signal(signal.SIGTERM)
    time.sleep(0.3)
    c.send(b"b")
    r = c.read_response(timeout=5.0)
    assert r.status == 503, f"/health/ready during drain: {r!r}"
    c.close()
    assert d.wait(10.0) == 0


def test_idle_drain_exits_promptly(launch):
    d = launch("--drain-timeout", "30s")
    with Conn(d.port) as c:  # an idle keep-alive connection must not hold up shutdown
        c.request("GET", "/health/live")
        assert c.read_response().status == 200
        d.signal(signal.SIGTERM)
        rc = d.wait(10.0)
        assert rc is not None, "idle keep-alive connection kept the daemon in drain"
        assert rc == 0
        closed, extra = c.wait_closed(3.0)
        assert closed, "idle connection not closed at shutdown"


def test_second_signal_exits_at_once(launch):
    d = launch("--drain-timeout", "60s")
    c = _start_slow_post(d.port)  # never completed: drain would take the full 60 s
    d.signal(signal.SIGTERM)
    time.sleep(0.5)
    assert d.alive(), "first signal did not wait for the in-flight request"
    d.signal(signal.SIGINT)
    rc = d.wait(5.0)
    c.close()
    assert rc is not None, "second signal did not make the daemon exit"
    assert rc >= 0 or rc in (-signal.SIGTERM, -signal.SIGINT), f"died from signal {-rc}"


def test_drain_timeout_bounds_shutdown(launch):
    d = launch("--drain-timeout", "1s")
    c = _start_slow_post(d.port)
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    rc = d.wait(10.0)
    c.close()
    assert rc is not None, "drain-timeout 1s did not bound shutdown (still running after 10 s)"
    assert time.monotonic() - t0 >= 0.5, "did not wait for the in-flight request at all"
    assert rc >= 0, f"died from signal {-rc}"


def test_serving_log_line_and_json_logs(launch):
    d = launch()
    get(d.port, "/health")
    d.stop()
    recs = d.log_records()
    bad = [r for r in recs if "_unparsed" in r]
    assert not bad, f"non-JSON stderr lines: {bad[:3]}"
    for r in recs:
        assert {"ts", "level", "msg"} <= r.keys(), r
        assert r["level"] in ("debug", "info", "warn", "error"), r
    serving = [r for r in recs if r.get("msg") == "serving"]
    assert len(serving) == 1, f"expected exactly one 'serving' line, got {serving}"
    assert serving[0].get("listen") == f"127.0.0.1:{d.port}", serving[0]


def test_sigterm_under_load_exits_0(launch):
    d = launch("--drain-timeout", "5s")
    wrk = shutil.which("wrk")
    assert wrk, "wrk not installed"
    load = subprocess.Popen([wrk, "-t2", "-c64", "-d6s", "--timeout", "2s",
                             f"http://127.0.0.1:{d.port}/health/live"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(1.5)
        assert d.alive()
        d.signal(signal.SIGTERM)
        rc = d.wait(10.0)
    finally:
        try:
            out, _ = load.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            load.kill()
            out, _ = load.communicate()
    assert rc is not None, "did not exit within 10 s of SIGTERM under load"
    assert rc == 0, f"exit {rc} after SIGTERM under load\n{d.log_tail()}"
    assert "requests in" in out, out


def test_sigterm_with_many_idle_connections(launch):
    d = launch("--drain-timeout", "20s")
    conns = []
    try:
        for _ in range(300):
            c = Conn(d.port)
            c.request("GET", "/health/live")
            conns.append(c)
        for c in conns:
            assert c.read_response().status == 200
        d.signal(signal.SIGTERM)
        rc = d.wait(10.0)
        assert rc == 0, f"exit {rc}: idle keep-alive connections held up the drain"
        for c in conns[:20]:
            closed, extra = c.wait_closed(2.0)
            assert closed and not extra
    finally:
        for c in conns:
            c.close()
