"""HTTP/1.1 hardening: slow bodies are cut off, error replies survive a client that keeps
sending, large responses do not pin memory on idle connections, HEAD never streams a body.

Readings:
- once a request's head is in, its body must be complete within --body-timeout and, after a
  first 5 s, arrive at an average of at least --body-min-rate; progress does not restart the
  clock. Cut off: 408, then close; counted in rf_http_body_timeouts_total;
- an error reply is followed by a lingering close: the server half-closes, drops what the client
  still sends (bounded), then closes, so the client reads the reply instead of a reset;
- rf_http_connection_buffer_bytes is the memory the open connections' buffers reserve.
"""

from __future__ import annotations

import socket
import time

from engine_client import chain, must_put, start, wait_status
from rfclient import Conn, NoResponse, assert_json_error, metric_sum, scrape

APPROVAL = {"steps": [{"id": "prep", "type": "noop"},
                      {"id": "approve", "type": "approval", "depends_on": ["prep"]}]}


def trickle_until_answered(c: Conn, piece: bytes, every: float, limit: float) -> float:
    """Send `piece` every `every` seconds until the server answers; returns the seconds taken."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if c.readable_within(every):
            return time.monotonic() - t0
        try:
            c.send(piece)
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - t0
    raise AssertionError(f"body trickled for {limit} s without being cut off")


# ---------------------------------------------------------------- slow bodies


def test_trickling_body_is_cut_at_body_timeout(launch):
    d = launch("--body-timeout", "2s", "--body-min-rate", "0")
    with Conn(d.port, timeout=10.0) as c:
        c.send(b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        # one byte per 200 ms: each read used to restart the idle timer (60 s)
        took = trickle_until_answered(c, b"a", 0.2, 12.0)
        assert_json_error(c.read_response(timeout=5.0), 408)
        closed, extra = c.wait_closed(3.0)
        assert closed and not extra, f"not closed after 408 (extra={extra[:100]!r})"
    assert 1.5 < took < 5.0, f"cut after {took:.2f} s with --body-timeout 2s"
    m = scrape(d.port)
    assert metric_sum(m, "rf_http_body_timeouts_total") == 1
    assert metric_sum(m, "rf_http_timeouts_total") == 1


def test_body_below_min_rate_is_cut_after_grace(launch):
    d = launch("--body-min-rate", "1KiB")  # --body-timeout stays 30s
    with Conn(d.port, timeout=20.0) as c:
        c.send(b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        took = trickle_until_answered(c, b"b" * 20, 0.2, 15.0)  # ~100 B/s
        assert_json_error(c.read_response(timeout=5.0), 408)
        closed, _ = c.wait_closed(3.0)
        assert closed
    # 5 s of grace plus a second per KiB received (~0.5 KiB): well before --body-timeout.
    assert 4.5 < took < 9.0, f"cut after {took:.2f} s"
    assert metric_sum(scrape(d.port), "rf_http_body_timeouts_total") == 1


def test_steady_body_within_limits_is_served(launch):
    d = launch("--body-timeout", "3s", "--max-body", "4MiB")
    body = b"c" * (3 << 20)
    with Conn(d.port, timeout=10.0) as c:
        c.send(b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body))
        for i in range(0, len(body), 64 << 10):
            c.send(body[i:i + (64 << 10)])
            time.sleep(0.002)
        assert c.read_response().status == 405  # read whole, then routed
        c.request("GET", "/health")
        assert c.read_response().status == 200
    assert metric_sum(scrape(d.port), "rf_http_body_timeouts_total") == 0


# ---------------------------------------------------------------- lingering close


def test_client_still_sending_reads_the_431(server):
    """The head limit is 16 KiB; like many HTTP clients, this one writes its whole request
    (1.5 MiB of head) before it reads. Closing at once would reset the connection under the
    client's writes (and a reset may destroy the reply); lingering lets it finish, then read."""
    before = metric_sum(scrape(server.port), "rf_http_lingering_closes_total")
    for attempt in range(3):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10.0)
        try:
            try:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * (64 << 10))
                for _ in range(23):
                    sock.sendall(b"q" * (64 << 10))
            except OSError as e:
                raise AssertionError(f"attempt {attempt}: {e!r} while still sending") from None
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
            assert data.startswith(b"HTTP/1.1 431 "), data[:200]
            sock.shutdown(socket.SHUT_WR)
        finally:
            sock.close()
    after = metric_sum(scrape(server.port), "rf_http_lingering_closes_total")
    assert after - before >= 3


def test_lingering_close_is_bounded(server):
    """A client that keeps sending forever after a 400 is closed within a few seconds."""
    with Conn(server.port, timeout=10.0) as c:
        c.send(b"GET / HTTP/1.1\r\nHost : x\r\n\r\n")  # malformed: 400
        assert_json_error(c.read_response(), 400)
        t0 = time.monotonic()
        try:
            while time.monotonic() - t0 < 10.0:
                c.send(b"z" * 1024)
                time.sleep(0.01)
            raise AssertionError("still accepting bytes 10 s after the 400")
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert time.monotonic() - t0 < 5.0


# ---------------------------------------------------------------- buffers


def test_buffers_shrink_after_a_large_response(launch):
    d = launch("--shards", "1")
    must_put(d, "big", chain("a", "b", "c", "d", "e"))
    rid = start(d, "big", input={"blob": "x" * 900_000}).json["id"]
    wait_status(d, rid, "succeeded", timeout=20.0)
    with Conn(d.port, timeout=20.0) as c:
        c.request("GET", f"/v1/runs/{rid}")
        r = c.read_response()
        assert r.status == 200 and len(r.body) > 5_000_000, (r, len(r.body))
        time.sleep(0.2)  # the connection now waits for its next request
        reserved = metric_sum(scrape(d.port), "rf_http_connection_buffer_bytes")
        assert reserved < 512 << 10, f"{reserved:.0f} bytes reserved by idle connections"
        c.request("GET", "/health/live")  # and it still serves
        assert c.read_response().status == 200


# ---------------------------------------------------------------- HEAD


def test_head_on_event_streams_sends_only_the_head(launch):
    d = launch()
    must_put(d, "headsse", APPROVAL)
    rid = start(d, "headsse", input={}).json["id"]
    wait_status(d, rid, "waiting")
    for path in (f"/v1/runs/{rid}/events", "/v1/events?workflow=headsse"):
        with Conn(d.port, timeout=5.0) as c:
            c.request("HEAD", path)
            r = c.read_head()
            assert r.status == 200, (path, r)
            assert (r.header("content-type") or "").startswith("text/event-stream"), r
            closed, extra = c.wait_closed(3.0)
            assert extra == b"", f"HEAD {path} streamed a body: {extra[:200]!r}"
            assert closed, f"HEAD {path} did not end"


def test_head_on_plain_route_has_no_body(server):
    with Conn(server.port) as c:
        c.request("HEAD", "/health")
        r = c.read_response(head_request=True)
        assert r.status == 200 and int(r.header("content-length")) > 0, r
        c.request("GET", "/health/live")  # a body there would be read as this response
        try:
            assert c.read_response().status == 200
        except NoResponse as e:
            raise AssertionError(f"HEAD left bytes behind: {e}") from None
