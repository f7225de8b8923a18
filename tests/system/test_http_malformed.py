"""Parser strictness: a table of malformed requests, each with its expected status.

After each one the server must still answer a normal GET on a new connection.
"""

from __future__ import annotations

import random
import socket
import time

import pytest

from rfclient import Conn, NoResponse, _parse_head, assert_json_error, get

H = b"Host: x\r\n"
BIG = b"X-Big: " + b"a" * (17 * 1024) + b"\r\n"

# (id, raw request, expected status (or tuple of acceptable ones), connection must close)
CASES = [
    # line endings / folding
    ("bare-lf-everywhere", b"GET /health HTTP/1.1\nHost: x\n\n", 400, True),
    ("bare-lf-request-line", b"GET /health HTTP/1.1\nHost: x\r\n\r\n", 400, True),
    ("bare-lf-header", b"GET /health HTTP/1.1\r\nHost: x\n\r\n", 400, True),
    ("bare-cr", b"GET /health HTTP/1.1\rHost: x\r\n\r\n", 400, True),
    ("obs-fold-space", b"GET /health HTTP/1.1\r\n" + H + b"X-A: a\r\n  b\r\n\r\n", 400, True),
    ("obs-fold-tab", b"GET /health HTTP/1.1\r\n" + H + b"X-A: a\r\n\tb\r\n\r\n", 400, True),
    # Host
    ("missing-host-1.1", b"GET /health HTTP/1.1\r\nX-A: b\r\n\r\n", 400, True),
    ("duplicate-host", b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, True),
    # framing
    ("cl-and-te", b"POST /health HTTP/1.1\r\n" + H +
     b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, True),
    ("te-and-cl", b"POST /health HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400, True),
    ("cl-duplicate-conflict", b"POST /health HTTP/1.1\r\n" + H +
     b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400, True),
    ("cl-list-conflict", b"POST /health HTTP/1.1\r\n" + H +
     b"Content-Length: 3, 4\r\n\r\nabcd", 400, True),
    ("cl-not-a-number", b"POST /health HTTP/1.1\r\n" + H + b"Content-Length: abc\r\n\r\n", 400, True),
    ("cl-negative", b"POST /health HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\n", 400, True),
    ("cl-plus-sign", b"POST /health HTTP/1.1\r\n" + H + b"Content-Length: +3\r\n\r\nabc", 400, True),
    ("cl-empty", b"POST /health HTTP/1.1\r\n" + H + b"Content-Length: \r\n\r\n", 400, True),
    ("cl-hex", b"POST /health HTTP/1.1\r\n" + H + b"Content-Length: 0x3\r\n\r\nabc", 400, True),
    ("cl-overflow", b"POST /health HTTP/1.1\r\n" + H +
     b"Content-Length: 99999999999999999999999999\r\n\r\n", (400, 413), True),
    ("chunk-size-not-hex", b"POST /health HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n", 400, True),
    ("chunk-size-negative", b"POST /health HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\n\r\n-1\r\nab\r\n0\r\n\r\n", 400, True),
    ("chunk-size-empty", b"POST /health HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\n\r\n\r\nab\r\n0\r\n\r\n", 400, True),
    ("chunk-data-no-crlf", b"POST /health HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\n\r\n2\r\nabXY0\r\n\r\n", 400, True),
    ("chunk-size-bare-lf", b"POST /health HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\n\r\n2\nab\r\n0\r\n\r\n", 400, True),
    # header syntax
    ("header-name-paren", b"GET /health HTTP/1.1\r\n" + H + b"X(A): b\r\n\r\n", 400, True),
    ("header-name-space-inside", b"GET /health HTTP/1.1\r\n" + H + b"X A: b\r\n\r\n", 400, True),
    ("header-name-empty", b"GET /health HTTP/1.1\r\n" + H + b": b\r\n\r\n", 400, True),
    ("header-name-nul", b"GET /health HTTP/1.1\r\n" + H + b"X\x00A: b\r\n\r\n", 400, True),
    ("header-no-colon", b"GET /health HTTP/1.1\r\n" + H + b"JustAName\r\n\r\n", 400, True),
    ("space-before-colon", b"GET /health HTTP/1.1\r\nHost : x\r\n\r\n", 400, True),
    ("tab-before-colon", b"GET /health HTTP/1.1\r\n" + H + b"X-A\t: b\r\n\r\n", 400, True),
    ("nul-in-value", b"GET /health HTTP/1.1\r\n" + H + b"X-A: a\x00b\r\n\r\n", 400, True),
    ("cr-in-value", b"GET /health HTTP/1.1\r\n" + H + b"X-A: a\rb\r\n\r\n", 400, True),
    # request line
    ("ctl-in-target", b"GET /hea\x01lth HTTP/1.1\r\n" + H + b"\r\n", 400, True),
    ("del-in-target", b"GET /hea\x7flth HTTP/1.1\r\n" + H + b"\r\n", 400, True),
    ("space-in-target", b"GET /a b HTTP/1.1\r\n" + H + b"\r\n", 400, True),
    ("double-space", b"GET  /health HTTP/1.1\r\n" + H + b"\r\n", 400, True),
    ("target-no-slash", b"GET health HTTP/1.1\r\n" + H + b"\r\n", 400, True),
    ("empty-target", b"GET  HTTP/1.1\r\n" + H + b"\r\n", 400, True),
    ("bad-method-char", b"GE(T /health HTTP/1.1\r\n" + H + b"\r\n", 400, True),
    ("http-0.9", b"GET /health\r\n\r\n", 400, True),
    ("version-garbage", b"GET /health HTTX/1.1\r\n" + H + b"\r\n", 400, True),
    ("version-lowercase", b"GET /health http/1.1\r\n" + H + b"\r\n", 400, True),
    ("version-truncated", b"GET /health HTTP/1\r\n" + H + b"\r\n", 400, True),
    # unsupported (well-formed) things
    ("http-2.0", b"GET /health HTTP/2.0\r\n" + H + b"\r\n", 505, False),
    ("http-1.2", b"GET /health HTTP/1.2\r\n" + H + b"\r\n", 505, False),
    ("http-3.0", b"GET /health HTTP/3.0\r\n" + H + b"\r\n", 505, False),
    ("te-gzip", b"POST /health HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip\r\n\r\n", 501, False),
    ("te-identity", b"POST /health HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: identity\r\n\r\n", 501, False),
    ("te-gzip-chunked", b"POST /health HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501, False),
    # size limits (defaults: 16 KiB head, 1 MiB body)
    ("header-too-large", b"GET /health HTTP/1.1\r\n" + H + BIG + b"\r\n", 431, True),
    ("target-too-large", b"GET /" + b"a" * (17 * 1024) + b" HTTP/1.1\r\n" + H + b"\r\n", 431, True),
    ("many-headers-too-large", b"GET /health HTTP/1.1\r\n" + H +
     b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 100) for i in range(200)) + b"\r\n", 431, True),
    ("body-over-default-max", b"POST /health HTTP/1.1\r\n" + H +
     b"Content-Length: 1048577\r\n\r\n", 413, True),
]


@pytest.mark.parametrize("raw,status,closes", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed(server, raw, status, closes):
    with Conn(server.port) as c:
        try:
            c.send(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass
        r = c.read_response(timeout=5.0)
        if isinstance(status, tuple):  # either is defensible (e.g. unrepresentable length)
            assert r.status in status, f"expected one of {status}, got {r!r}"
            status = r.status
        assert_json_error(r, status)
        if closes:
            closed, extra = c.wait_closed(3.0)
            assert closed, f"connection not closed after {status}"
            assert not extra, f"bytes after the {status} response: {extra[:200]!r}"
    ok = get(server.port, "/health")
    assert ok.status == 200, f"server unhealthy after {raw[:80]!r}: {ok!r}"


def test_table_is_big_enough():
    assert len(CASES) >= 30
    assert len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("size", [1024, 8 * 1024, 14 * 1024])
def test_large_but_allowed_headers(server, size):
    raw = b"GET /health HTTP/1.1\r\n" + H + b"X-Big: " + b"b" * size + b"\r\n\r\n"
    with Conn(server.port) as c:
        c.send(raw)
        r = c.read_response()
        assert r.status == 200, r
        c.request("GET", "/health/live")
        assert c.read_response().status == 200


def test_lenient_but_valid_forms_accepted(server):
    """Valid per RFC 9112: OWS around values, case-insensitive names, identical duplicate CL."""
    with Conn(server.port) as c:
        c.send(b"GET /health HTTP/1.1\r\nhOsT:x\r\nX-A: \t v \t\r\n\r\n")
        assert c.read_response().status == 200
        c.send(b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
               b"Content-Length: 2\r\n\r\nab")
        assert c.read_response().status == 405
        c.send(b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        assert c.read_response().status == 200
        c.send(b"GET /health?x=1&y=%20 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.read_response().status == 200


def test_http10_without_host_is_fine(server):
    with Conn(server.port) as c:
        c.send(b"GET /health HTTP/1.0\r\n\r\n")
        assert c.read_response().status == 200


SEEDS = [
    b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /health/live HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;a=b\r\nhello\r\n0\r\nT: v\r\n\r\n",
    b"HEAD /metrics HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"GET /health/ready HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nz",
]
NASTY = [b"\r", b"\n", b"\x00", b" ", b"\t", b":", b";", b"-", b"0", b"f", b"\xff", b"\x7f",
         b"\r\n", b"\r\n\r\n", b"9999999999", b"chunked", b"Content-Length: 3\r\n"]
VALID_STATUSES = {100, 200, 400, 404, 405, 408, 413, 431, 501, 505}


def _mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op, pos = rng.randrange(5), rng.randrange(len(b) + 1)
        if op == 0 and b:
            b[min(pos, len(b) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            b[pos:pos] = rng.choice(NASTY)
        elif op == 2:
            del b[pos:pos + rng.randint(1, 8)]
        elif op == 3:
            b[pos:pos] = bytes(b[pos:pos + rng.randint(1, 40)])  # duplicate a slice
        else:
            b = b[:pos] + b + b[pos:]  # pipeline-ish splice
    return bytes(b)


def test_mutated_requests_never_break_the_server(server):
    """Deterministic mini-fuzz: 400 mutated requests, half-closed after sending. Each gets
    well-formed responses (or a plain close); the daemon never dies or hangs."""
    rng = random.Random(0xF00D)
    deadline = time.monotonic() + 90
    for i in range(400):
        assert time.monotonic() < deadline, f"fuzz loop too slow at case {i}"
        raw = _mutate(rng, rng.choice(SEEDS))
        with Conn(server.port, timeout=5.0) as c:
            try:
                c.send(raw)
                c.sock.shutdown(socket.SHUT_WR)
            except (BrokenPipeError, ConnectionResetError):
                pass
            try:
                closed, data = c.wait_closed(5.0)
            except NoResponse:
                closed, data = False, b""
            assert closed, f"case {i}: connection neither answered nor closed; sent {raw!r}"
        while data:  # every response head must parse and carry a status we know
            head, sep, rest = data.partition(b"\r\n\r\n")
            if not sep:
                raise AssertionError(f"case {i}: truncated response {data[:200]!r} to {raw!r}")
            r = _parse_head(head)
            assert r.status in VALID_STATUSES, f"case {i}: {r!r} for {raw!r}"
            n = int(r.header("content-length") or 0) if r.status >= 200 else 0
            if b"HEAD " in raw and r.status == 200:
                n = 0  # HEAD responses carry the GET length but no body
            data = rest[n:]
            if b"HEAD " in raw:
                break  # cannot tell which request a later response belongs to
        assert server.alive(), f"daemon died on case {i}: {raw!r}\n{server.log_tail()}"
    assert get(server.port, "/health").status == 200
