"""Routes, response shape, keep-alive, pipelining, request bodies."""

from __future__ import annotations

import time

import pytest

from rfclient import IMF_FIXDATE, Conn, assert_json_error, get

GET_ROUTES = ["/health", "/health/live", "/health/ready", "/metrics"]


def test_health(server):
    r = get(server.port, "/health")
    assert r.status == 200, r
    assert (r.header("content-type") or "").startswith("application/json"), r
    doc = r.json()
    assert doc["status"] == "ok", doc
    assert isinstance(doc["version"], str) and doc["version"], doc
    assert isinstance(doc["uptime_s"], (int, float)) and doc["uptime_s"] >= 0, doc
    assert doc["shards"] == 2, doc


def test_uptime_advances(server):
    u1 = get(server.port, "/health").json()["uptime_s"]
    time.sleep(1.2)
    u2 = get(server.port, "/health").json()["uptime_s"]
    assert u2 >= u1 + 1, (u1, u2)


def test_live_and_ready(server):
    live = get(server.port, "/health/live")
    assert live.status == 200, live
    assert live.body and len(live.body) < 1024, live
    live.json()  # small JSON body
    ready = get(server.port, "/health/ready")
    assert ready.status == 200, ready


@pytest.mark.parametrize("path", GET_ROUTES)
def test_date_and_content_length(server, path):
    r = get(server.port, path)
    assert r.status == 200, r
    date = r.header("date")
    assert date and IMF_FIXDATE.fullmatch(date), f"Date header {date!r}"
    assert r.header("content-length") is not None or r.header("transfer-encoding"), r


@pytest.mark.parametrize("path", GET_ROUTES)
def test_head_has_headers_but_no_body(server, path):
    with Conn(server.port) as c:
        c.request("GET", path)
        g = c.read_response()
        c.request("HEAD", path)
        h = c.read_response(head_request=True)
        assert h.status == 200, h
        cl = h.header("content-length")
        assert cl is not None and int(cl) > 0, f"HEAD needs Content-Length: {h!r}"
        if path != "/metrics":  # metrics body changes between requests
            assert int(cl) == len(g.body), (h, g)
        assert h.header("content-type") == g.header("content-type")
        # If a body had been sent after the HEAD response, this would not parse.
        c.request("GET", "/health/live")
        nxt = c.read_response()
        assert nxt.status == 200, f"bytes after HEAD response: {nxt.raw_head[:200]!r}"


def test_unknown_path_404_keeps_connection(server):
    with Conn(server.port) as c:
        c.request("GET", "/no/such/route")
        r = c.read_response()
        assert_json_error(r, 404)
        assert "close" not in r.connection_tokens(), r
        c.request("GET", "/health/live")
        assert c.read_response().status == 200


@pytest.mark.parametrize("method,path", [("POST", "/health"), ("DELETE", "/health/live"),
                                         ("PUT", "/health/ready"), ("POST", "/metrics")])
def test_wrong_method_405_with_allow(server, method, path):
    with Conn(server.port) as c:
        c.request(method, path, headers={"Content-Length": "0"})
        r = c.read_response()
        assert_json_error(r, 405)
        allow = r.header("allow")
        assert allow, f"405 without Allow: {r!r}"
        methods = {m.strip().upper() for m in allow.split(",")}
        assert "GET" in methods and "HEAD" in methods, allow
        assert method not in methods, allow
        # a 405 on a well-formed request keeps the connection usable
        c.request("GET", path)
        assert c.read_response().status == 200


def test_keep_alive_sequential(server):
    with Conn(server.port) as c:
        for i in range(20):
            c.request("GET", "/health/live" if i % 2 else "/health")
            r = c.read_response()
            assert r.status == 200, (i, r)
            assert "close" not in r.connection_tokens(), (i, r)


def test_pipelining_answers_in_order(server):
    seq = ["/health", "/health/live", "/nope-1", "/health/ready", "/nope-2", "/health"] * 5
    raw = b"".join(f"GET {p} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for p in seq)
    with Conn(server.port) as c:
        c.send(raw)
        for i, p in enumerate(seq):
            r = c.read_response()
            if p.startswith("/nope"):
                assert r.status == 404, (i, p, r)
            else:
                assert r.status == 200, (i, p, r)
            if p == "/health":
                assert r.json()["status"] == "ok"
        # still usable afterwards
        c.request("GET", "/health/live")
        assert c.read_response().status == 200


def test_pipelining_with_head_and_bodies(server):
    raw = (b"HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n"
           b"POST /health/live HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcd"
           b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n"
           b"POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"3\r\nabc\r\n0\r\n\r\n"
           b"GET /health/ready HTTP/1.1\r\nHost: x\r\n\r\n")
    with Conn(server.port) as c:
        c.send(raw)
        assert c.read_response(head_request=True).status == 200
        assert c.read_response().status == 405
        assert c.read_response().status == 200
        assert c.read_response().status == 405
        assert c.read_response().status == 200


def test_http10_closes_by_default(server):
    with Conn(server.port) as c:
        c.send(b"GET /health/live HTTP/1.0\r\n\r\n")
        r = c.read_response()
        assert r.status == 200, r
        closed, extra = c.wait_closed(3.0)
        assert closed and not extra, f"HTTP/1.0 without keep-alive must close; extra={extra!r}"


def test_http10_keep_alive(server):
    with Conn(server.port) as c:
        for _ in range(3):
            c.send(b"GET /health/live HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            r = c.read_response()
            assert r.status == 200, r
            assert "keep-alive" in r.connection_tokens(), \
                f"HTTP/1.0 keep-alive response must say Connection: keep-alive: {r!r}"
            assert r.header("content-length") is not None, r


def test_connection_close_closes(server):
    with Conn(server.port) as c:
        c.send(b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
               b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        r = c.read_response()
        assert r.status == 200, r
        closed, extra = c.wait_closed(3.0)
        assert closed, "server kept the connection open after Connection: close"
        assert not extra, f"request after Connection: close was answered: {extra[:200]!r}"


def test_content_length_body_then_reuse(server):
    with Conn(server.port) as c:
        c.request("POST", "/health/live", body=b"x" * 5000)
        assert_json_error(c.read_response(), 405)
        c.request("GET", "/health/live")
        assert c.read_response().status == 200


@pytest.mark.parametrize("chunks", [
    b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    b"5;ext=1\r\nhello\r\n0\r\n\r\n",
    b"A\r\n0123456789\r\n0\r\nX-Trailer: yes\r\n\r\n",
    b"0\r\n\r\n",
])
def test_chunked_body_consumed_then_reuse(server, chunks):
    with Conn(server.port) as c:
        c.send(b"POST /health/live HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               + chunks)
        assert_json_error(c.read_response(), 405)
        c.request("GET", "/health/live")
        assert c.read_response().status == 200, "chunked body not fully consumed"


def test_chunked_body_sent_in_pieces(server):
    with Conn(server.port) as c:
        c.send(b"POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        for piece in (b"4\r", b"\nab", b"cd\r\n", b"0\r\n", b"\r\n"):
            c.send(piece)
            time.sleep(0.02)  # separate segments: exercises the incremental parser
        assert c.read_response().status == 405
        c.request("GET", "/health")
        assert c.read_response().status == 200


def test_expect_100_continue(server):
    with Conn(server.port) as c:
        c.send(b"POST /health/live HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
               b"Expect: 100-continue\r\n\r\n")
        interim = c.read_response(allow_1xx=True, timeout=3.0)
        assert interim.status == 100, f"expected 100 Continue before the body, got {interim!r}"
        assert interim.raw_head == b"HTTP/1.1 100 Continue", interim.raw_head
        c.send(b"hello")
        assert_json_error(c.read_response(), 405)
        c.request("GET", "/health/live")
        assert c.read_response().status == 200


def test_expect_100_continue_chunked(server):
    with Conn(server.port) as c:
        c.send(b"POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
               b"Expect: 100-continue\r\n\r\n")
        interim = c.read_response(allow_1xx=True, timeout=3.0)
        assert interim.status == 100, interim
        c.send(b"2\r\nhi\r\n0\r\n\r\n")
        assert c.read_response().status == 405
