"""Edge cases: incremental parsing, backpressure, deep pipelines, valid-but-unusual input."""

from __future__ import annotations

import threading
import time

import pytest

from rfclient import IMF_FIXDATE, Conn, assert_json_error, get


def test_request_split_into_single_bytes(server):
    raw = b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: b\r\n\r\n"
    with Conn(server.port) as c:
        for i in range(len(raw)):
            c.send(raw[i:i + 1])
            time.sleep(0.002)
        assert c.read_response().status == 200


def test_pipeline_deeper_than_max_pipeline(server):
    n = 300  # default --max-pipeline is 64: the rest must still be answered, in order
    paths = ["/health/live" if i % 3 else "/nope" for i in range(n)]
    raw = b"".join(f"GET {p} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for p in paths)
    with Conn(server.port, timeout=10.0) as c:
        c.send(raw)
        for i, p in enumerate(paths):
            r = c.read_response()
            assert r.status == (404 if p == "/nope" else 200), (i, r)


def test_pipeline_partial_tail_completed_later(server):
    with Conn(server.port) as c:
        c.send(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHo")
        assert c.read_response().status == 200
        time.sleep(0.1)
        c.send(b"st: x\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.json()["status"] == "ok", r


def test_backpressure_client_not_reading(server):
    """Thousands of pipelined requests while the reader lags: all answered, in order."""
    n = 5000
    req = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    c = Conn(server.port, timeout=20.0)
    err: list[BaseException] = []

    def writer():
        try:
            for _ in range(n // 100):
                c.send(req * 100)
        except BaseException as e:  # reported by the main thread
            err.append(e)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    time.sleep(0.5)  # let the server's output back up before we start reading
    try:
        for i in range(n):
            r = c.read_response(timeout=20.0)
            assert r.status == 200, (i, r)
    finally:
        t.join(20)
        c.close()
    assert not err, err
    assert get(server.port, "/health").status == 200


def test_bad_request_in_pipeline_stops_processing(server):
    with Conn(server.port) as c:
        c.send(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n"
               b"GET /health/live HTTP/1.1\r\nHost : x\r\n\r\n"
               b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.read_response().status == 200
        assert_json_error(c.read_response(), 400)
        closed, extra = c.wait_closed(3.0)
        assert closed and not extra, f"request after a 400 was answered: {extra[:200]!r}"


def test_head_on_404_has_no_body(server):
    with Conn(server.port) as c:
        c.request("HEAD", "/nope")
        r = c.read_response(head_request=True)
        assert r.status == 404, r
        c.request("GET", "/health/live")
        nxt = c.read_response()
        assert nxt.status == 200, f"HEAD 404 sent a body: {nxt.raw_head[:200]!r}"


@pytest.mark.parametrize("raw,status", [
    (b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 404),
    (b"DELETE /health HTTP/1.1\r\nHost: x\r\n\r\n", 405),
    (b"GET /health HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    (b"GET /health HTTP/2.0\r\nHost: x\r\n\r\n", 505),
])
def test_error_responses_have_date_and_length(server, raw, status):
    with Conn(server.port) as c:
        c.send(raw)
        r = c.read_response()
        assert r.status == status, r
        assert IMF_FIXDATE.fullmatch(r.header("date") or ""), r
        assert int(r.header("content-length") or -1) == len(r.body), r


@pytest.mark.parametrize("hdrs", [
    b"Connection: Close\r\n",
    b"Connection: keep-alive, close\r\n",
    b"Connection: close, Upgrade\r\n",
])
def test_connection_close_token_variants(server, hdrs):
    with Conn(server.port) as c:
        c.send(b"GET /health/live HTTP/1.1\r\nHost: x\r\n" + hdrs + b"\r\n")
        assert c.read_response().status == 200
        closed, _ = c.wait_closed(3.0)
        assert closed, f"not closed for {hdrs!r}"


@pytest.mark.parametrize("raw", [
    b"GET /health HTTP/1.1\r\nHost: x\r\nX-Latin1: caf\xe9\r\n\r\n",        # obs-text is valid
    b"GET /health HTTP/1.1\r\nHost: x\r\nX-Tab: a\tb\r\n\r\n",               # HTAB in value
    b"GET /health HTTP/1.1\r\nHost: x\r\nX-Empty:\r\n\r\n",                  # empty value
    b"GET /health HTTP/1.1\r\nHost: x\r\nX-!#$%&'*+-.^_`|~: t\r\n\r\n",      # all tchars
    b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 005\r\n\r\nabcde",  # leading zeros
    b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length:  3 \r\n\r\nabc",   # OWS
    b"POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
    b"POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"0005\r\nabcde\r\n0\r\n\r\n",                                             # leading zeros
    b"POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"a\r\n0123456789\r\nA\r\n0123456789\r\n0\r\n\r\n",                        # hex case
])
def test_valid_unusual_requests_accepted(server, raw):
    with Conn(server.port) as c:
        c.send(raw)
        r = c.read_response()
        assert r.status in (200, 405), r
        c.request("GET", "/health")
        assert c.read_response().status == 200, "connection unusable after a valid request"


def test_keepalive_idle_longer_than_header_timeout(short_header_timeout):
    """header-timeout (500ms) covers receiving a request, not waiting between requests."""
    d = short_header_timeout
    with Conn(d.port) as c:
        c.request("GET", "/health/live")
        assert c.read_response().status == 200
        time.sleep(1.2)
        c.request("GET", "/health/live")
        r = c.read_response()
        assert r.status == 200, f"idle keep-alive connection hit header-timeout: {r!r}"


def test_expect_100_with_oversized_body_gets_413(small_max_body):
    d = small_max_body
    with Conn(d.port) as c:
        c.send(b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n"
               b"Expect: 100-continue\r\n\r\n")
        r = c.read_response(allow_1xx=True)
        assert r.status == 413, f"expected 413 instead of inviting the body, got {r!r}"


def test_http10_keepalive_404_then_reuse(server):
    with Conn(server.port) as c:
        c.send(b"GET /nope HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        assert c.read_response().status == 404
        c.send(b"GET /health/live HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        assert c.read_response().status == 200


def test_no_100_continue_for_http10(server):
    """RFC 9110 10.1.1: a 100-continue expectation in an HTTP/1.0 request is ignored."""
    with Conn(server.port) as c:
        c.send(b"POST /health/live HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        assert not c.readable_within(0.3), f"interim response to HTTP/1.0: {c.sock.recv(200)!r}"
        c.send(b"hello")
        assert_json_error(c.read_response(), 405)


def _head_of_size(total: int) -> bytes:
    base = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: \r\n\r\n"
    return base.replace(b"X-Pad: ", b"X-Pad: " + b"p" * (total - len(base)))


def test_head_of_exactly_16_kib_accepted(server):
    raw = _head_of_size(16 * 1024)
    assert len(raw) == 16384
    with Conn(server.port) as c:
        c.send(raw)
        assert c.read_response().status == 200
        c.request("GET", "/health/live")
        assert c.read_response().status == 200


def test_head_just_over_16_kib_rejected(server):
    raw = _head_of_size(16 * 1024 + 3)  # over by 3 even if the final CRLF is not counted
    with Conn(server.port) as c:
        c.send(raw)
        assert_json_error(c.read_response(), 431)


def test_get_with_body_pipelined(server):
    with Conn(server.port) as c:
        c.send(b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n"
               b"GET /nope HTTP/1.1\r\n"  # 20 bytes of body that look like a request
               b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        r1 = c.read_response()
        r2 = c.read_response()
        assert (r1.status, r2.status) == (200, 200), (r1, r2)
        assert r2.json() != r1.json() or r2.body != r1.body


def test_upgrade_request_is_answered_as_http11(server):
    # Only `Upgrade: h2c` is taken (101, then HTTP/2: tests/system/test_http2.py); any other
    # protocol, or h2c without a valid HTTP2-Settings, is answered as HTTP/1.1.
    for upgrade in (b"Upgrade: websocket\r\n",
                    b"Upgrade: h2c\r\nHTTP2-Settings: not*base64url\r\n"):
        with Conn(server.port) as c:
            c.send(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                   + upgrade + b"\r\n")
            r = c.read_response()
            assert r.status == 200 and r.version == "HTTP/1.1", r
